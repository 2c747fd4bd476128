"""End to end through the gateway: real router process, real Rasa server, real action server, all on loopback."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from websockets.sync.client import ClientConnection, connect

from router.auth import create_user
from router.db import make_engine, make_session_factory
from router.migrate import upgrade
from tests.e2e.helpers import auth_frame, credentials_env, sample_order, shop_credentials, shopper_message, signed
from tests.procs import RASA_TOKEN, Proc, free_port, start_router

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
AGENT_PASSWORD = "agent-pass-123"


class Shop:
    """A running router (gateway) plus the database behind it."""

    def __init__(self, proc: Proc, db_url: str, credentials: dict[str, str]) -> None:
        self.proc = proc
        self.credentials = credentials
        self.url = proc.url
        self.db_url = db_url
        self.http = httpx.Client(base_url=proc.url, timeout=60)
        self.sessions = make_session_factory(make_engine(db_url))

    def say(self, customer: str, text: str, channel: str = "web", **extra: Any) -> dict[str, Any]:
        body, headers = shopper_message(self.credentials, channel, customer, text, **extra)
        resp = self.http.post("/api/v1/messages", json=body, headers=headers)
        assert resp.status_code == 200, resp.text
        answer: dict[str, Any] = resp.json()
        return answer

    def login(self, username: str, password: str = AGENT_PASSWORD) -> str:
        resp = self.http.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert resp.status_code == 200, resp.text
        token: str = resp.json()["access_token"]
        return token

    def ws_url(self, path: str) -> str:
        return self.url.replace("http://", "ws://") + path

    def shopper_token(self, customer: str) -> str:
        """The web token of a shopper the shop signed in (what the widget holds)."""
        resp = self.http.post("/api/v1/channels/web/session", json=signed(self.credentials, customer))
        assert resp.status_code == 200, resp.text
        return str(resp.json()["visitor_token"])

    def socket(self, path: str, token: str) -> ClientConnection:
        ws = connect(self.ws_url(path))
        ws.send(auth_frame(token))
        return ws


def _router_env(db_url: str, rasa_url: str, orders_db: str) -> dict[str, str]:
    return {
        "KEFU_ROUTER_DATABASE_URL": db_url,
        "KEFU_ROUTER_RASA_URL": rasa_url,
        "KEFU_ROUTER_RASA_TOKEN": RASA_TOKEN,
        "KEFU_ROUTER_RASA_TIMEOUT_S": "20",
        "KEFU_ACTIONS_ORDERS_DB_URL": orders_db,
        "KEFU_ROUTER_OFFER_TIMEOUT_S": "30",
    }


def _make_shop(tmp: Path, name: str, rasa_url: str, orders_db: str, agents: list[dict[str, Any]]) -> Shop:
    db_url = f"sqlite:///{tmp / (name + '.db')}"
    upgrade(db_url)
    sessions = make_session_factory(make_engine(db_url))
    for agent in agents:
        create_user(sessions, password=AGENT_PASSWORD, **agent)
    credentials = shop_credentials(db_url)
    env = {**_router_env(db_url, rasa_url, orders_db), **credentials_env(credentials)}
    proc = start_router(log_dir=tmp, env=env, name=name)
    return Shop(proc, db_url, credentials)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, rasa_server: Proc, orders_db: str) -> Iterator[Shop]:
    tmp = tmp_path_factory.mktemp("gateway")
    agents = [
        {"username": "wang", "display_name": "小王", "skills": {"after_sales": 5, "general": 4, "logistics": 3}},
        {"username": "super", "display_name": "主管", "role": "supervisor", "skills": {"general": 3}},
    ]
    shop = _make_shop(tmp, "router", rasa_server.url, orders_db, agents)
    yield shop
    shop.proc.stop()


def customer() -> str:
    return "c-e2e-" + uuid.uuid4().hex[:8]


def recv_until(ws: ClientConnection, predicate: Any, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, "expected event did not arrive"
        event: dict[str, Any] = json.loads(ws.recv(timeout=remaining))
        if predicate(event):
            return event


def all_texts(body: dict[str, Any]) -> str:
    return "\n".join(r["text"] for r in body["replies"])


def test_faq_answered_through_the_gateway(shop: Shop) -> None:
    body = shop.say(customer(), "退款一般几天能到账")
    assert body["owner"] == "bot"
    assert body["replies"], body
    assert body["sentiment"]["label"] in {"neutral", "negative", "positive"}


def test_order_status_flow(shop: Shop, orders_db: str) -> None:
    order_id, cust = sample_order(orders_db, "派送中")
    first = shop.say(cust, "帮我查一下订单")
    assert "订单号" in all_texts(first), first
    second = shop.say(cust, order_id)
    assert order_id in all_texts(second) and "派送中" in all_texts(second), second
    assert second["conversation_id"] == first["conversation_id"]
    # the agent console's order panel shows the same order: the router process reads it through shop/, not actions/
    staff = {"Authorization": f"Bearer {shop.login('super')}"}
    panel = shop.http.get(f"/api/v1/agents/conversations/{second['conversation_id']}/context", headers=staff)
    assert panel.status_code == 200, panel.text
    order = panel.json()["order"]
    assert order is not None and order["order_id"] == order_id and order["status"] == "派送中", panel.text
    # naming the customer without the shop's signature is refused; an anonymous visitor does not own the order
    unsigned = shop.http.post("/api/v1/messages", json={"channel": "web", "customer_id": cust, "text": order_id})
    assert unsigned.status_code == 401 and "派送中" not in unsigned.text
    visitor = shop.http.post("/api/v1/messages", json={"channel": "web", "text": "帮我查一下订单"}).json()
    token = {"Authorization": f"Bearer {visitor['visitor_token']}"}
    asked = shop.http.post("/api/v1/messages", json={"channel": "web", "text": order_id}, headers=token)
    assert asked.status_code == 200 and "派送中" not in all_texts(asked.json()), asked.text


def test_handoff_to_agent_and_back_to_bot(shop: Shop) -> None:
    token = shop.login("wang")
    auth = {"Authorization": f"Bearer {token}"}
    assert shop.http.put(
        "/api/v1/agents/me/status", json={"status": "online", "connection": "api"}, headers=auth
    ).status_code == 200
    cust = customer()
    with (
        shop.socket("/api/v1/agents/ws", token) as agent_ws,
        shop.socket("/api/v1/channels/web/ws", shop.shopper_token(cust)) as shopper_ws,
    ):
        recv_until(agent_ws, lambda e: e.get("type") == "hello")
        recv_until(shopper_ws, lambda e: e.get("type") == "ready")
        handoff = shop.say(cust, "转人工")
        conv_id = handoff["conversation_id"]
        assert handoff["owner"] in {"queue", "agent"}, handoff
        offer = recv_until(agent_ws, lambda e: e.get("type") == "offer" and e.get("conversation_id") == conv_id)
        offer_id = offer.get("offer_id") or offer["offer"]["id"]
        accepted = shop.http.post(f"/api/v1/agents/offers/{offer_id}/accept", headers=auth)
        assert accepted.status_code == 200, accepted.text
        joined = recv_until(shopper_ws, lambda e: e.get("type") == "reply" and e["owner"] == "agent")
        assert "小王" in joined["reply"]["text"]

        # shopper -> agent only; the bot stays silent
        body = shop.say(cust, "我的快递三天没动了")
        assert body["owner"] == "agent" and body["replies"] == []
        msg = recv_until(agent_ws, lambda e: e.get("type") == "message" and e.get("conversation_id") == conv_id)
        assert msg["message"]["text"] == "我的快递三天没动了"

        # agent -> shopper
        context = shop.http.get(f"/api/v1/agents/conversations/{conv_id}/context", headers=auth)
        assert context.status_code == 200 and context.json()["transcript"], context.text
        sent = shop.http.post(
            f"/api/v1/agents/conversations/{conv_id}/messages", json={"text": "您好，我来帮您查一下"}, headers=auth
        )
        assert sent.status_code == 200, sent.text
        got = recv_until(shopper_ws, lambda e: e.get("type") == "reply" and e["reply"]["sender"] == "agent")
        assert got["reply"]["text"] == "您好，我来帮您查一下"

        # close -> survey
        closed = shop.http.post(f"/api/v1/agents/conversations/{conv_id}/close", json={}, headers=auth)
        assert closed.status_code == 200, closed.text
        recv_until(shopper_ws, lambda e: e.get("type") == "survey")
    rated = shop.say(cust, "5 客服很耐心")
    assert rated["conversation_id"] == conv_id and "感谢" in all_texts(rated)
    from router.conversations.models import Survey

    with shop.sessions() as session:
        survey = session.get(Survey, conv_id)
        assert survey is not None and survey.rating == 5 and survey.comment == "客服很耐心"
    again = shop.say(cust, "你好")
    assert again["owner"] == "bot" and again["replies"] and again["conversation_id"] != conv_id


def test_angry_message_gets_priority_handoff(shop: Shop) -> None:
    token = shop.login("super")
    auth = {"Authorization": f"Bearer {token}"}
    assert shop.http.put(
        "/api/v1/agents/me/status", json={"status": "online", "connection": "api"}, headers=auth
    ).status_code == 200
    cust = customer()
    body = shop.say(cust, "你们就是骗子！！！再不退钱我就去12315投诉你们")
    assert body["sentiment"]["label"] == "angry", body
    assert body["owner"] in {"queue", "agent"}
    assert "抱歉" in all_texts(body)
    from router.conversations.models import Conversation

    with shop.sessions() as session:
        conv = session.get(Conversation, body["conversation_id"])
        assert conv is not None and conv.priority >= 5 and conv.handoff_reason == "angry"


def test_same_customer_switching_channel_keeps_history(shop: Shop) -> None:
    cust = customer()
    first = shop.say(cust, "你好", channel="app")
    second = shop.say(cust, "优惠券怎么用", channel="web")
    assert first["conversation_id"] == second["conversation_id"]
    mine = {"Authorization": f"Bearer {shop.shopper_token(cust)}"}
    history = shop.http.get(f"/api/v1/conversations/{second['conversation_id']}/history", headers=mine).json()
    channels = [m["channel"] for m in history if m["direction"] == "in"]
    assert channels == ["app", "web"]
    texts = [m["text"] for m in history if m["direction"] == "in"]
    assert texts == ["你好", "优惠券怎么用"]


def test_miniprogram_openid_linked_to_customer(shop: Shop) -> None:
    body = {"openid": "oXyz" + uuid.uuid4().hex[:6], "content": "你好"}
    assert shop.http.post("/api/v1/channels/miniprogram/messages", json=body).status_code == 401
    key = {"X-Kefu-Channel-Key": shop.credentials["miniprogram"]}
    resp = shop.http.post("/api/v1/channels/miniprogram/messages", json=body, headers=key)
    assert resp.status_code == 200 and resp.json()["owner"] == "bot"


def test_bad_input_gets_clear_errors(shop: Shop) -> None:
    for body in (
        {"channel": "web", "customer_id": "c1", "text": "   "},
        {"channel": "fax", "customer_id": "c1", "text": "你好"},
        {"channel": "web", "customer_id": "", "text": "你好"},
        {"channel": "web", "customer_id": "c1", "text": "长" * 5000},
    ):
        resp = shop.http.post("/api/v1/messages", json=body)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.json()["detail"]


def test_rasa_down_polite_reply_and_handoff(
    tmp_path_factory: pytest.TempPathFactory, orders_db: str, shop: Shop
) -> None:
    tmp = tmp_path_factory.mktemp("rasa-down")
    dead = f"http://127.0.0.1:{free_port()}"
    down = _make_shop(tmp, "router-down", dead, orders_db, [{"username": "li", "skills": {"general": 4}}])
    try:
        cust = customer()
        alone = down.say(cust, "你好，在吗")
        assert alone["owner"] == "bot" and "抱歉" in all_texts(alone), alone
        from router.conversations.models import Message

        with down.sessions() as session:
            stored = session.scalars(select(Message.text).where(Message.customer_id == cust)).all()
            assert "你好，在吗" in stored  # nothing is lost
        token = down.login("li")
        auth = {"Authorization": f"Bearer {token}"}
        assert down.http.put(
            "/api/v1/agents/me/status", json={"status": "online", "connection": "api"}, headers=auth
        ).status_code == 200
        handed = down.say(customer(), "我的订单怎么还没发货")
        assert handed["owner"] in {"queue", "agent"} and "转接" in all_texts(handed), handed
    finally:
        down.proc.stop()
