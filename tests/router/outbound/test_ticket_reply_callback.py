"""A reply to an app shopper's left message (a ticket) reaches the shop's callback, written in the same transaction as
the message; internal notes never do. Real app, real SQLite, Rasa down (the leave-a-message path does not need it)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from router.app import create_app
from tests.procs import free_port
from tests.router.ops_support import add_user, bearer, channel_key, migrated, rasa_down_settings, running
from tests.router.outbound.callback_server import CallbackServer, Receiver
from tests.router.sentiment.conftest import model_path  # noqa: F401  (the session's trained sentiment model)

pytestmark = pytest.mark.slow


def test_ticket_reply_to_an_app_shopper_goes_to_the_callback(tmp_path: Path, model_path: Path) -> None:  # noqa: F811
    engine, sessions = migrated(tmp_path)
    settings = rasa_down_settings(model_path).model_copy(update={"outbound_poll_s": 0.05})
    amy = add_user(sessions, "amy", skills={"logistics": 4, "general": 2}, status="offline")
    root = add_user(sessions, "root", role="admin")
    auth = bearer(settings, amy, "amy", "agent")
    receiver = Receiver()
    server = CallbackServer(receiver, free_port()).start()
    try:
        with running(create_app(settings, db_engine=engine, with_gateway=True)) as client:
            made = client.put(
                "/api/v1/admin/outbound/endpoints/app",
                json={"url": server.url},
                headers=bearer(settings, root, "root", "admin"),
            )
            receiver.secret = made.json()["secret"]
            say = {"user_id": "u-left", "text": "包裹丢了一个星期都没人管，气死我了！！"}
            backend = channel_key(client)  # the shop's app backend
            first = client.post("/api/v1/channels/app/messages", json=say, headers=backend)
            conv_id = first.json()["conversation_id"]
            say["text"] = "麻烦尽快查一下包裹，订单号 2026112400012345"
            again = client.post("/api/v1/channels/app/messages", json=say, headers=backend)
            assert "工单号" in again.json()["replies"][0]["text"]
            [ticket] = client.get("/api/v1/tickets", headers=auth).json()["items"]
            for body in ({"text": "内部备注：已联系快递", "public": False}, {"text": "您好，包裹已找到，明天送达。"}):
                commented = client.post(f"/api/v1/tickets/{ticket['id']}/comments", headers=auth, json=body)
                assert commented.status_code == 201, commented.text
            deadline = time.monotonic() + 15
            while not receiver.deliveries:
                assert time.monotonic() < deadline, "the ticket reply did not reach the callback"
                time.sleep(0.05)
            time.sleep(0.5)
    finally:
        server.stop()
        engine.dispose()
    [delivery] = receiver.deliveries  # the synchronous replies and the internal note were not sent
    assert delivery.verified
    body = delivery.body
    assert body["event"] == "ticket_reply" and body["conversation_id"] == conv_id and body["customer_id"] == "u-left"
    assert body["data"]["ticket"] == ticket["ref"] and "明天送达" in body["message"]["text"]
