"""No blocking call on the event loop: over real requests to a real app (gateway included), no SQL statement runs on
the event-loop thread, and asyncio's debug mode reports no callback slower than the threshold.

The app is built by ``create_app`` with the gateway (SQLite file, the trained sentiment model, the FAQ knowledge base
of ``var/kb``; Rasa down, which is one of the paths a shopper message takes).  The agent's context panel loads the
knowledge base on its first call: that must happen in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from router.app import create_app
from router.identity import identity_hash
from tests.e2e.helpers import auth_frame
from tests.router.integrity.conftest import ARTIFACT
from tests.router.ops_support import (
    TEST_WEB_SECRET,
    add_user,
    bearer,
    channel_key,
    migrated,
    rasa_down_settings,
    web_token,
)

pytestmark = pytest.mark.slow
SLOW_CALLBACK_S = 1.0  # wall time, so generous (a loaded machine stretches every step); an index build is far above


def _exercise(client: TestClient, auth: dict[str, str], customer: str, *, context_panel: bool = True) -> None:
    """Every kind of shopper and agent request the gateway serves, once."""
    signed = {"customer_id": customer, "identity_hash": identity_hash(TEST_WEB_SECRET, customer)}
    # a real question: the context panel searches the knowledge base for it (a greeting alone would skip the search)
    question = {"channel": "web", "text": "退款多久能到账", "client_msg_id": "m-1", **signed}
    first = client.post("/api/v1/messages", json=question)
    assert first.status_code == 200, first.text
    conv = first.json()["conversation_id"]
    again = client.post("/api/v1/messages", json=question)
    assert again.json()["message_id"] == first.json()["message_id"]
    assert client.post("/api/v1/channels/app/messages", json={"customer_id": customer, "text": "我的快递到哪了"},
                       headers=channel_key(client)).status_code in (200, 422)
    owner = web_token(client, customer)
    assert client.get(f"/api/v1/conversations/{conv}/history", headers=owner).status_code == 200
    assert client.get(f"/api/v1/customers/{customer}/state", headers=owner).status_code == 200
    if context_panel:
        context = client.get(f"/api/v1/agents/conversations/{conv}/context", headers=auth)
        assert context.status_code == 200, context.text
    assert client.get("/api/v1/agents/me/offers", headers=auth).status_code == 200
    assert client.post(f"/api/v1/conversations/{conv}/leave", headers=owner).status_code == 200
    assert client.post(f"/api/v1/conversations/{conv}/survey", json={"rating": 5}, headers=owner).status_code == 200
    with client.websocket_connect("/api/v1/channels/web/ws") as ws:
        ws.send_text(auth_frame(owner["Authorization"].removeprefix("Bearer ")))
        ws.send_json({"text": "在吗", "client_msg_id": "m-ws"})
        for _ in range(5):
            if ws.receive_json().get("type") in {"response", "reply"}:
                break


def test_requests_never_block_the_event_loop(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine, sessions = migrated(tmp_path)
    agent_id = add_user(sessions, "wang", skills={"general": 5})
    settings = rasa_down_settings(ARTIFACT)
    app = create_app(settings, db_engine=engine, with_gateway=True)
    loop_thread: list[int] = []
    on_loop: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _where(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if loop_thread and threading.get_ident() == loop_thread[0]:
            on_loop.append(statement.split("\n")[0][:80])

    def loop_ident() -> None:
        loop_thread.append(threading.get_ident())

    def debug_loop() -> None:
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        loop.slow_callback_duration = SLOW_CALLBACK_S

    auth = bearer(settings, agent_id, "wang", "agent")
    caplog.set_level(logging.WARNING, logger="asyncio")
    with TestClient(app) as client:
        client.portal.call(loop_ident)  # type: ignore[arg-type]
        # first pass: FastAPI builds each route's dependency tree on its first request (framework warm-up, seconds on
        # a loaded machine); the SQL check already applies.  The context panel's first call, which loads the
        # knowledge base, is left for the measured pass.
        _exercise(client, auth, "loop-warm-up", context_panel=False)
        client.portal.call(debug_loop)  # type: ignore[arg-type]
        _exercise(client, auth, "loop-check")
    event.remove(engine, "before_cursor_execute", _where)
    assert loop_thread and on_loop == [], on_loop
    slow = [r.getMessage() for r in caplog.records if r.name == "asyncio" and "took" in r.getMessage()]
    assert slow == [], slow
    engine.dispose()
