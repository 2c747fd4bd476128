"""Shopper identity through the real app: anonymous visitors, verified customers, shop backends, and the ownership of
state, history, survey, leave and the WebSocket."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from starlette.websockets import WebSocketDisconnect

from router.clock import utcnow
from router.conversations.models import Conversation, Customer, Message
from router.identity.models import ChannelKey, VisitorToken
from router.identity.service import digest
from tests.router.identity.conftest import SECRET, Shop, bearer, signed

pytestmark = pytest.mark.slow


def test_first_web_message_creates_a_visitor_with_a_hashed_token(shop: Shop) -> None:
    token, body = shop.visitor()
    assert body["customer_id"].startswith("anon:") and body["verified"] is False
    assert len(token) >= 32 and body["token_expires_in"] > 0
    with shop.client.app.state.sessions() as session:  # type: ignore[attr-defined]
        stored = session.scalars(select(VisitorToken.token_hash)).all()
    assert digest(token) in stored and token not in stored
    # the next message with the token is the same visitor and gets no new token
    again = shop.say(token, "在吗")
    assert again["customer_id"] == body["customer_id"] and again["visitor_token"] is None
    assert again["conversation_id"] == body["conversation_id"]


def test_owner_reads_and_others_get_401_or_404(shop: Shop) -> None:
    victim, body = shop.visitor("我的手机号是13812345678")
    thief, _ = shop.visitor()
    conv, customer = body["conversation_id"], body["customer_id"]
    reads = [
        ("GET", f"/api/v1/customers/{customer}/state", None),
        ("GET", f"/api/v1/conversations/{conv}/history", None),
    ]
    writes = [
        ("POST", f"/api/v1/conversations/{conv}/survey", {"rating": 5}),
        ("POST", f"/api/v1/conversations/{conv}/leave", None),
    ]
    for method, path, payload in reads + writes:
        none = shop.client.request(method, path, json=payload)
        assert none.status_code == 401 and none.json()["message"], (path, none.text)
        assert none.headers["WWW-Authenticate"] == "Bearer"
        forged = shop.client.request(method, path, json=payload, headers=bearer("kv_forged" + "x" * 40))
        assert forged.status_code == 401, (path, forged.text)
        other = shop.client.request(method, path, json=payload, headers=bearer(thief))
        assert other.status_code == 404, (path, other.text)
        assert "13812345678" not in other.text
    for method, path, payload in reads + writes:
        mine = shop.client.request(method, path, json=payload, headers=bearer(victim))
        assert mine.status_code in (200, 204), (path, mine.text)
    history = shop.client.get(f"/api/v1/conversations/{conv}/history", headers=bearer(victim)).json()
    assert any("13812345678" in m["text"] for m in history)  # the shopper sees their own words unmasked


def test_expired_token_is_refused_with_a_chinese_reason(shop: Shop) -> None:
    token = shop.identity.issue_token("anon:expired-visitor", verified=False, now=utcnow() - timedelta(days=400))
    resp = shop.client.post("/api/v1/messages", json={"channel": "web", "text": "你好"}, headers=bearer(token))
    assert resp.status_code == 401
    assert resp.json()["detail"] == "visitor token expired" and "过期" in resp.json()["message"]
    state = shop.client.get("/api/v1/customers/anon:expired-visitor/state", headers=bearer(token))
    assert state.status_code == 401


def test_claimed_customer_id_needs_a_valid_identity_hash(shop: Shop) -> None:
    post = shop.client.post
    plain = post("/api/v1/messages", json={"channel": "web", "customer_id": "c0001", "text": "查订单"})
    assert plain.status_code == 401 and "验证" in plain.json()["message"]
    other = {"customer_id": "c0001", "identity_hash": signed("c0002")["identity_hash"]}
    assert post("/api/v1/messages", json={"channel": "web", "text": "查订单", **other}).status_code == 401
    wrong = signed("c0001", secret="not-the-shop-secret-0123456789abcdef")
    assert post("/api/v1/messages", json={"channel": "web", "text": "查订单", **wrong}).status_code == 401
    truncated = {"customer_id": "c0001", "identity_hash": signed("c0001")["identity_hash"][:40]}
    assert post("/api/v1/messages", json={"channel": "web", "text": "查订单", **truncated}).status_code == 422
    reserved = post("/api/v1/messages", json={"channel": "web", "text": "你好", **signed("anon:abc")})
    assert reserved.status_code == 403
    ok = post("/api/v1/messages", json={"channel": "web", "text": "查订单", **signed("c0001")})
    assert ok.status_code == 200 and ok.json()["customer_id"] == "c0001" and ok.json()["verified"] is True
    token = ok.json()["visitor_token"]
    assert shop.client.get("/api/v1/customers/c0001/state", headers=bearer(token)).status_code == 200


def test_visitor_who_verifies_is_merged_into_the_customer(shop: Shop) -> None:
    token, first = shop.visitor("我想问一下退货")
    visitor_id = first["customer_id"]
    merged = shop.client.post(
        "/api/v1/messages", json={"channel": "web", "text": "我登录了", **signed("c-merge")}, headers=bearer(token)
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["customer_id"] == "c-merge" and merged.json()["visitor_token"] is None
    history = shop.client.get(
        f"/api/v1/conversations/{merged.json()['conversation_id']}/history", headers=bearer(token)
    ).json()
    assert [m["text"] for m in history if m["direction"] == "in"] == ["我想问一下退货", "我登录了"]
    with shop.client.app.state.sessions() as session:  # type: ignore[attr-defined]
        assert session.get(Customer, visitor_id) is None
        assert not session.scalars(select(Message).where(Message.customer_id == visitor_id)).all()
    # a token of a verified customer is not handed to another signed-in customer: a new one is issued
    switched = shop.client.post(
        "/api/v1/messages", json={"channel": "web", "text": "换个账号", **signed("c-other")}, headers=bearer(token)
    )
    assert switched.status_code == 200 and switched.json()["visitor_token"] not in (None, token)
    state = shop.client.get("/api/v1/customers/c-merge/state", headers=bearer(switched.json()["visitor_token"]))
    assert state.status_code == 404


def test_session_endpoint_gives_a_signed_in_shopper_a_token(shop: Shop) -> None:
    resp = shop.client.post("/api/v1/channels/web/session", json=signed("c-session"))
    assert resp.status_code == 200 and resp.json()["verified"] is True
    bad = shop.client.post("/api/v1/channels/web/session", json={**signed("c-session"), "customer_id": "c-x"})
    assert bad.status_code == 401


def test_app_and_miniprogram_need_their_channel_key(shop: Shop) -> None:
    post = shop.client.post
    body = {"user_id": "u-app-1", "text": "你好"}
    assert post("/api/v1/channels/app/messages", json=body).status_code == 401
    forged = {"X-Kefu-Channel-Key": "kk_forged"}
    assert post("/api/v1/channels/app/messages", json=body, headers=forged).status_code == 401
    wrong = post("/api/v1/channels/app/messages", json=body, headers={"X-Kefu-Channel-Key": shop.keys["miniprogram"]})
    assert wrong.status_code == 403 and wrong.json()["message"]
    ok = post("/api/v1/channels/app/messages", json=body, headers={"X-Kefu-Channel-Key": shop.keys["app"]})
    assert ok.status_code == 200, ok.text
    generic = {"channel": "app", "customer_id": "u-app-1", "text": "还在吗"}
    assert post("/api/v1/messages", json=generic).status_code == 401
    assert post("/api/v1/messages", json=generic, headers={"X-Kefu-Channel-Key": shop.keys["app"]}).status_code == 200
    for reserved_id in ("anon:someone", "erased:0123abcd"):
        reserved = {"channel": "app", "customer_id": reserved_id, "text": "你好"}
        refused = post("/api/v1/messages", json=reserved, headers={"X-Kefu-Channel-Key": shop.keys["app"]})
        assert refused.status_code == 403
    mp = {"openid": "oAbc123", "content": "你好"}
    headers = {"X-Kefu-Channel-Key": shop.keys["miniprogram"]}
    assert post("/api/v1/channels/miniprogram/messages", json=mp, headers=headers).status_code == 200
    # the backend reads its customers' state, never an anonymous visitor's
    key = {"X-Kefu-Channel-Key": shop.keys["app"]}
    assert shop.client.get("/api/v1/customers/u-app-1/state", headers=key).json()["conversation_id"]
    _, visitor = shop.visitor()
    assert shop.client.get(f"/api/v1/customers/{visitor['customer_id']}/state", headers=key).status_code == 404


def test_rotated_key_stops_working(shop: Shop) -> None:
    old = shop.keys["app"]
    new = shop.identity.rotate_channel_key("app")
    body = {"user_id": "u-rotate", "text": "你好"}
    try:
        assert shop.client.post(
            "/api/v1/channels/app/messages", json=body, headers={"X-Kefu-Channel-Key": old}
        ).status_code == 401
        assert shop.client.post(
            "/api/v1/channels/app/messages", json=body, headers={"X-Kefu-Channel-Key": new}
        ).status_code == 200
        with shop.client.app.state.sessions() as session:  # type: ignore[attr-defined]
            hashes = session.scalars(select(ChannelKey.key_hash)).all()
        assert new not in hashes and digest(new) in hashes
    finally:
        shop.keys["app"] = new


def test_web_socket_authenticates_with_the_first_frame(shop: Shop) -> None:
    token, body = shop.visitor()
    for first in ({"type": "hello"}, {"type": "auth", "token": "kv_forged-token-value"}):
        with shop.client.websocket_connect("/api/v1/channels/web/ws") as ws:
            ws.send_json(first)
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 4401
    # the old query-string identity is no identity at all
    with shop.client.websocket_connect(f"/api/v1/channels/web/ws?customer_id={body['customer_id']}") as ws:
        ws.send_json({"text": "你好"})
        with pytest.raises(WebSocketDisconnect):
            ws.receive_json()
    with shop.client.websocket_connect("/api/v1/channels/web/ws") as ws:
        ws.send_json({"type": "auth", "token": token})
        ready = ws.receive_json()
        assert ready == {"type": "ready", "customer_id": body["customer_id"], "verified": False}
        ws.send_json({"text": "你好呀", "client_msg_id": "ws-1"})
        events = [ws.receive_json() for _ in range(2)]
        assert {e["type"] for e in events} <= {"reply", "ack"} and any(e["type"] == "ack" for e in events)


def test_metrics_needs_a_token(shop: Shop) -> None:
    assert shop.client.get("/metrics").status_code == 401
    assert shop.client.get("/metrics", headers=bearer("not-the-metrics-token")).status_code == 401
    assert shop.client.get("/metrics", headers=bearer(shop.settings.metrics_token or "")).status_code == 200
    assert shop.client.get("/metrics", headers=bearer(shop.login("id-supervisor"))).status_code == 200
    assert shop.client.get("/metrics", headers=bearer(shop.login("id-agent"))).status_code == 403


def test_conversation_rows_name_the_verified_customer(shop: Shop) -> None:
    resp = shop.client.post("/api/v1/messages", json={"channel": "web", "text": "你好", **signed("c-rows")})
    with shop.client.app.state.sessions() as session:  # type: ignore[attr-defined]
        conv = session.get(Conversation, resp.json()["conversation_id"])
        assert conv is not None and conv.customer_id == "c-rows"
    assert SECRET not in resp.text


def test_backend_binds_a_miniprogram_openid_to_its_customer(shop: Shop) -> None:
    mp = {"X-Kefu-Channel-Key": shop.keys["miniprogram"]}
    binding = {"openid": "o-bound", "customer_id": "c-bound"}
    assert shop.client.put("/api/v1/channels/miniprogram/bindings", json=binding).status_code == 401
    app_key = {"X-Kefu-Channel-Key": shop.keys["app"]}
    assert shop.client.put("/api/v1/channels/miniprogram/bindings", json=binding, headers=app_key).status_code == 403
    assert shop.client.put("/api/v1/channels/miniprogram/bindings", json=binding, headers=mp).status_code == 204
    said = shop.client.post("/api/v1/channels/miniprogram/messages", json={"openid": "o-bound", "content": "你好"},
                            headers=mp)
    with shop.client.app.state.sessions() as session:  # type: ignore[attr-defined]
        conv = session.get(Conversation, said.json()["conversation_id"])
        assert conv is not None and conv.customer_id == "c-bound"
    reserved = {"openid": "o-x", "customer_id": "anon:abc"}
    assert shop.client.put("/api/v1/channels/miniprogram/bindings", json=reserved, headers=mp).status_code == 403
