"""The agent REST + WebSocket API on a real app (SQLite file, real JWTs), including auth failures."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from router.app import create_app
from router.auth import Principal, create_user, issue_token
from router.db import make_engine, make_session_factory
from router.migrate import upgrade
from router.settings import Settings

PASSWORD = "correct-horse-1"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'api.db'}",
        secret_key="test-secret-key-for-kefu-router-tests-0001",
        offer_timeout_s=30.0,
    )


@pytest.fixture
def users(settings: Settings) -> dict[str, int]:
    db = make_engine(settings.database_url)
    upgrade(engine=db)
    sessions = make_session_factory(db)
    ids = {
        "wang": create_user(
            sessions,
            username="wang",
            password=PASSWORD,
            display_name="小王",
            skills={"general": 5, "after_sales": 4},
            capacity={"chat": 2},
        ),
        "li": create_user(sessions, username="li", password=PASSWORD, display_name="小李", skills={"billing": 5}),
        "boss": create_user(
            sessions,
            username="boss",
            password=PASSWORD,
            display_name="主管",
            role="supervisor",
            skills={"general": 3},
            capacity={"chat": 0},
        ),
        "editor": create_user(sessions, username="editor", password=PASSWORD, display_name="编辑", role="content"),
    }
    db.dispose()
    return ids


@pytest.fixture
def received() -> list[tuple[int, str, str]]:
    return []


@pytest.fixture
def client(settings: Settings, users: dict[str, int], received: list[tuple[int, str, str]]) -> Iterator[TestClient]:
    async def gateway_stand_in(app: FastAPI) -> None:
        async def on_message(agent_id: int, conversation_id: str, text: str) -> None:
            received.append((agent_id, conversation_id, text))

        app.state.hub.on_agent_message(on_message)

    with TestClient(create_app(settings, on_startup=[gateway_stand_in])) as test_client:
        yield test_client


def login(client: TestClient, username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def next_event(ws: Any, kind: str) -> dict[str, Any]:
    for _ in range(20):
        event = ws.receive_json()
        if event["type"] == kind:
            return dict(event)
    raise AssertionError(f"no {kind} event")


def test_auth_failures(client: TestClient, settings: Settings, users: dict[str, int]) -> None:
    bad = client.post("/api/v1/auth/login", json={"username": "wang", "password": "wrong-password"})
    assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"
    assert client.post("/api/v1/auth/login", json={"username": "nobody", "password": "x"}).status_code == 401
    assert client.post("/api/v1/auth/login", json={"username": "wang"}).status_code == 422
    assert client.get("/api/v1/agents/me").status_code == 401
    assert client.get("/api/v1/agents/me", headers={"Authorization": "Bearer not-a-jwt"}).status_code == 401
    expired = issue_token(Principal(users["wang"], "wang", "agent", "小王"), settings, now=time.time() - 10 * 3600)
    response = client.get("/api/v1/agents/me", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401 and response.json()["detail"] == "token expired"
    assert response.json()["message"].startswith("请先登录")
    forged = issue_token(
        Principal(users["wang"], "wang", "admin", "x"),
        Settings(secret_key="another-secret-key-that-is-long-enough-0002"),
    )
    assert client.get("/api/v1/agents/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401

    editor = login(client, "editor")
    assert client.get("/api/v1/agents/me", headers=editor).json()["role"] == "content"
    assert client.put(
        "/api/v1/agents/me/status", json={"status": "online", "connection": "api"}, headers=editor
    ).status_code == 403
    agent = login(client, "wang")
    assert client.get("/api/v1/agents/queue", headers=agent).status_code == 403
    body = {"conversation_id": "c", "customer_id": "u", "skill": "general"}
    assert client.post("/api/v1/routing/handoffs", json=body, headers=agent).status_code == 403
    assert client.get("/api/v1/agents/queue", headers=login(client, "boss")).status_code == 200

    editor_token = editor["Authorization"].split()[1]
    for first, code in (
        ({"type": "auth", "token": "garbage"}, 4401),
        ({"type": "ping", "token": editor_token}, 4401),  # the first frame must be the auth frame
        ({"type": "auth", "token": editor_token}, 4403),
    ):
        with pytest.raises(WebSocketDisconnect) as closed:
            with client.websocket_connect("/api/v1/agents/ws") as ws:
                ws.send_json(first)
                ws.receive_json()
        assert closed.value.code == code
    with pytest.raises(WebSocketDisconnect) as closed:  # a token in the URL is no credential any more
        with client.websocket_connect(f"/api/v1/agents/ws?token={editor_token}") as ws:
            ws.send_json({"type": "ping"})
            ws.receive_json()
    assert closed.value.code == 4401


def test_bad_input_is_a_4xx(client: TestClient) -> None:
    boss = login(client, "boss")
    wang = login(client, "wang")
    handoff = {"conversation_id": "c", "customer_id": "u", "skill": "general", "priority": 11}
    assert client.post("/api/v1/routing/handoffs", json=handoff, headers=boss).status_code == 422
    assert client.put("/api/v1/agents/me/status", json={"status": "sleeping"}, headers=wang).status_code == 422
    assert client.post("/api/v1/agents/offers/nope/accept", headers=wang).status_code == 404
    both = {"to_agent_id": 2, "to_skill": "billing"}
    assert client.post("/api/v1/agents/conversations/c/transfer", json=both, headers=wang).status_code == 422
    assert client.post("/api/v1/agents/conversations/c/close", headers=wang).status_code == 404
    del handoff["priority"]
    response = client.post("/api/v1/routing/handoffs", json=handoff, headers=boss)
    assert response.status_code == 409 and response.json()["code"] == "NoAgentOnline"


def test_offer_accept_message_transfer_close(
    client: TestClient, users: dict[str, int], received: list[tuple[int, str, str]]
) -> None:
    wang, li, boss = login(client, "wang"), login(client, "li"), login(client, "boss")
    assert client.put(
        "/api/v1/agents/me/status", json={"status": "online", "connection": "api"}, headers=wang
    ).json()["status"] == "online"
    client.put("/api/v1/agents/me/status", json={"status": "online", "connection": "api"}, headers=li)
    token = wang["Authorization"].split()[1]
    with agent_socket(client, token) as ws:
        assert ws.receive_json()["type"] == "hello"
        handoff = {
            "conversation_id": "conv-1",
            "customer_id": "cust-1",
            "skill": "after_sales",
            "priority": 3,
            "note": "客户情绪激动",
        }
        created = client.post("/api/v1/routing/handoffs", json=handoff, headers=boss)
        assert created.status_code == 201 and created.json()["state"] == "offered"
        offer = next_event(ws, "offer")
        assert offer["conversation_id"] == "conv-1" and offer["note"] == "客户情绪激动"
        assert [o["id"] for o in client.get("/api/v1/agents/me/offers", headers=wang).json()] == [offer["offer_id"]]
        assert client.post(f"/api/v1/agents/offers/{offer['offer_id']}/accept", headers=li).status_code == 403

        accepted = client.post(f"/api/v1/agents/offers/{offer['offer_id']}/accept", headers=wang)
        assert accepted.status_code == 200 and accepted.json()["state"] == "assigned"
        assert next_event(ws, "assigned")["conversation_id"] == "conv-1"
        again = client.post(f"/api/v1/agents/offers/{offer['offer_id']}/accept", headers=wang)
        assert again.status_code == 409 and again.json()["code"] == "OfferNotPending"
        assert again.json()["message"] == "该会话邀请已失效（已被接入、拒绝或超时）。"
        assert [c["conversation_id"] for c in client.get("/api/v1/agents/me/conversations", headers=wang).json()] == [
            "conv-1"
        ]

        ws.send_json({"type": "message", "conversation_id": "conv-1", "text": "您好，我是客服小王"})
        assert next_event(ws, "message_ack")["conversation_id"] == "conv-1"
        assert received == [(users["wang"], "conv-1", "您好，我是客服小王")]
        ws.send_json({"type": "message", "conversation_id": "someone-else", "text": "hi"})
        assert next_event(ws, "error")["code"] == "NotAssigned"
        ws.send_json(["not", "an", "object"])
        assert next_event(ws, "error")["reason"].startswith("expected")

        hub = client.app.state.hub  # type: ignore[attr-defined]
        client.portal.call(
            hub.send_to_agent,
            users["wang"],
            {
                "type": "message",
                "conversation_id": "conv-1",  # type: ignore[union-attr]
                "text": "我的退款什么时候到账？",
            },
        )
        assert next_event(ws, "message")["text"] == "我的退款什么时候到账？"

        moved = client.post(
            "/api/v1/agents/conversations/conv-1/transfer",
            json={"to_skill": "billing", "note": "退款已审核，请跟进到账"},
            headers=wang,
        )
        assert moved.status_code == 200 and moved.json()["reason"] == "transfer"
        assert next_event(ws, "transferred")["to_skill"] == "billing"
    (li_offer,) = client.get("/api/v1/agents/me/offers", headers=li).json()
    assert li_offer["note"] == "退款已审核，请跟进到账"
    client.post(f"/api/v1/agents/offers/{li_offer['id']}/accept", headers=li)
    assert client.post("/api/v1/agents/conversations/conv-1/close", headers=wang).status_code == 409
    closed = client.post("/api/v1/agents/conversations/conv-1/close", json={"reason": "resolved"}, headers=li)
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    overview = client.get("/api/v1/agents/queue", headers=boss).json()
    assert overview["agents_online"] == 2 and overview["pending_offers"] == 0


def test_ws_accept_and_timeout_pushes(client: TestClient, settings: Settings) -> None:
    wang, boss = login(client, "wang"), login(client, "boss")
    client.put("/api/v1/agents/me/status", json={"status": "online", "connection": "api"}, headers=wang)
    token = wang["Authorization"].split()[1]
    engine = client.app.state.engine  # type: ignore[attr-defined]
    with agent_socket(client, token) as ws:
        ws.receive_json()
        for cid in ("a", "b"):
            client.post(
                "/api/v1/routing/handoffs",
                json={"conversation_id": cid, "customer_id": cid, "skill": "general"},
                headers=boss,
            )
        first, second = next_event(ws, "offer"), next_event(ws, "offer")
        ws.send_json({"type": "accept", "offer_id": first["offer_id"]})
        assert next_event(ws, "accepted")["conversation_id"] == first["conversation_id"]
        ws.send_json({"type": "ping"})
        assert next_event(ws, "pong") == {"type": "pong"}
        # let the second offer run out: move the engine's clock past the deadline; the app's timer loop fires it
        real_clock = engine.clock
        engine.clock = lambda: real_clock() + settings.offer_timeout_s + 1
        timed_out = next_event(ws, "offer_timed_out")
        assert timed_out["offer_id"] == second["offer_id"]
    status = client.get(f"/api/v1/routing/conversations/{second['conversation_id']}/status", headers=boss).json()
    assert status["state"] == "waiting" and status["position"] == 1


def test_openapi_and_health(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in (
        "/api/v1/auth/login",
        "/api/v1/agents/me/status",
        "/api/v1/agents/offers/{offer_id}/accept",
        "/api/v1/agents/conversations/{conversation_id}/transfer",
        "/api/v1/agents/queue",
        "/api/v1/routing/handoffs",
    ):
        assert path in spec["paths"], path
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"


@contextmanager
def agent_socket(client: TestClient, token: str) -> Iterator[Any]:
    """The agent WebSocket, authenticated by its first frame."""
    with client.websocket_connect("/api/v1/agents/ws") as ws:
        ws.send_json({"type": "auth", "token": token})
        yield ws
