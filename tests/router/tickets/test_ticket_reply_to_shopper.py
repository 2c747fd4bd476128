"""An agent's public reply to a left message reaches the shopper: in the conversation history and pushed live.

Real app (``create_app`` with the gateway), real SQLite, real sentiment model; Rasa is down (a closed port), which
the leave-a-message path does not need.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from router.app import create_app
from router.conversations.models import Conversation, ConversationEvent
from router.db import session_scope
from tests.router.ops_support import add_user, bearer, channel_key, migrated, rasa_down_settings, running, web_token
from tests.router.sentiment.conftest import model_path  # noqa: F401  (the session's trained sentiment model)

pytestmark = pytest.mark.slow


def test_public_ticket_reply_reaches_the_shopper_and_a_note_does_not(
    tmp_path: Path,
    model_path: Path,  # noqa: F811
) -> None:
    engine, sessions = migrated(tmp_path)
    settings = rasa_down_settings(model_path)
    # the only agent is offline: an upset shopper is offered to leave a message, which becomes a ticket for her
    amy = add_user(sessions, "amy", skills={"logistics": 4, "general": 2}, status="offline")
    auth = bearer(settings, amy, "amy", "agent")
    app = create_app(settings, db_engine=engine, with_gateway=True)
    with running(app) as client:
        shop = channel_key(client)
        first = client.post(
            "/api/v1/messages",
            json={"channel": "app", "customer_id": "u-wait", "text": "包裹丢了一个星期都没人管，气死我了！！"},
            headers=shop,
        )
        assert first.status_code == 200, first.text
        conv_id = first.json()["conversation_id"]
        left = client.post(
            "/api/v1/messages",
            json={"channel": "app", "customer_id": "u-wait", "text": "麻烦尽快查一下包裹，订单号 2026112400012345"},
            headers=shop,
        )
        assert left.status_code == 200 and "工单号" in left.json()["replies"][0]["text"]
        [ticket] = client.get("/api/v1/tickets", headers=auth).json()["items"]
        assert ticket["conversation_id"] == conv_id

        # the shopper (signed in by the shop) now has the web chat open: the reply is pushed there
        shopper = web_token(client, "u-wait")
        with client.websocket_connect("/api/v1/channels/web/ws") as ws:
            ws.send_json({"type": "auth", "token": shopper["Authorization"].removeprefix("Bearer ")})
            assert ws.receive_json()["type"] == "ready"
            note = client.post(
                f"/api/v1/tickets/{ticket['id']}/comments",
                headers=auth,
                json={"text": "内部备注：已联系快递", "public": False},
            )
            assert note.status_code == 201
            reply = client.post(
                f"/api/v1/tickets/{ticket['id']}/comments",
                headers=auth,
                json={"text": "您好，快递已找到您的包裹，明天送达。"},
            )
            assert reply.status_code == 201, reply.text
            # stored before it is pushed, so the history shows it now (and a missing push can't hang the test first)
            history = client.get(f"/api/v1/conversations/{conv_id}/history", headers=shopper).json()
            texts = [m["text"] for m in history]
            assert any("明天送达" in t for t in texts)
            assert not any("内部备注" in t for t in texts)  # internal notes never reach the shopper
            event = ws.receive_json()
        assert event["type"] == "ticket_reply" and event["ticket"] == ticket["ref"]
        assert event["reply"]["sender"] == "agent"
        assert "明天送达" in event["reply"]["text"] and ticket["ref"] in event["reply"]["text"]

    with session_scope(sessions) as s:
        conv = s.get(Conversation, conv_id)
        assert conv is not None and conv.status == "closed"  # the reply did not reopen the conversation
        events = s.scalars(select(ConversationEvent.type).where(ConversationEvent.conversation_id == conv_id)).all()
        assert list(events).count("ticket_reply") == 1
    engine.dispose()
