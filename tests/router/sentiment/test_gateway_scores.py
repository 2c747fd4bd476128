"""Every inbound shopper text is stored with its sentiment, including survey comments and left messages (which the
gateway handles before the normal bot path). Real app built by ``create_app``, real SQLite, real trained model; the
Rasa server is down (a closed port), which these paths do not need."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from router.app import create_app
from router.clock import utcnow
from router.conversations.models import Conversation, Customer, Message, Survey
from router.db import session_scope
from tests.router.ops_support import channel_key, migrated, rasa_down_settings, running, web_token

pytestmark = pytest.mark.slow


def _inbound(sessions: sessionmaker[Session], customer_id: str) -> list[Message]:
    with session_scope(sessions) as s:
        rows = s.scalars(
            select(Message).where(Message.customer_id == customer_id, Message.direction == "in").order_by(Message.id)
        ).all()
        s.expunge_all()
        return list(rows)


def test_survey_comment_is_stored_with_its_sentiment(tmp_path: Path, model_path: Path) -> None:
    engine, sessions = migrated(tmp_path)
    with session_scope(sessions) as s:
        s.add(Customer(id="u-survey"))
        s.flush()
        conv = Conversation(
            customer_id="u-survey",
            channel="web",
            first_channel="web",
            owner="bot",
            status="closed",
            survey_pending=True,
            closed_at=utcnow() - timedelta(minutes=1),
        )
        s.add(conv)
        s.flush()
        conv_id = conv.id
    app = create_app(rasa_down_settings(model_path), db_engine=engine, with_gateway=True)
    with running(app) as client:
        r = client.post(
            "/api/v1/messages",
            json={"channel": "web", "text": "1 分，客服态度太差了，问了半天什么都没解决！！"},
            headers=web_token(client, "u-survey"),
        )
        assert r.status_code == 200
    [msg] = _inbound(sessions, "u-survey")
    assert msg.conversation_id == conv_id
    assert msg.sentiment_label in {"angry", "negative"}
    assert msg.sentiment_score is not None and 0.0 <= msg.sentiment_score <= 1.0
    assert msg.anger is not None
    with session_scope(sessions) as s:
        survey = s.get(Survey, conv_id)
        assert survey is not None and survey.rating == 1
    engine.dispose()


def test_left_message_is_stored_with_its_sentiment(tmp_path: Path, model_path: Path) -> None:
    engine, sessions = migrated(tmp_path)
    app = create_app(rasa_down_settings(model_path), db_engine=engine, with_gateway=True)
    with running(app) as client:
        # Nobody online: the angry shopper is offered to leave a message; the next text is that message.
        first = client.post(
            "/api/v1/messages",
            json={
                "channel": "app",
                "customer_id": "u-left",
                "text": "你们到底怎么回事！包裹丢了一个星期都没人管，气死我了！",
            },
            headers=channel_key(client),
        )
        assert first.status_code == 200 and first.json()["sentiment"]["label"] == "angry"
        with session_scope(sessions) as s:
            conv = s.scalar(select(Conversation).where(Conversation.customer_id == "u-left"))
            assert conv is not None and conv.handoff_reason == "leave_message"
        left = client.post(
            "/api/v1/messages",
            json={
                "channel": "app",
                "customer_id": "u-left",
                "text": "谢谢，麻烦尽快帮我查一下包裹，订单号 2026112400012345",
            },
            headers=channel_key(client),
        )
        assert left.status_code == 200 and "工单号" in left.json()["replies"][0]["text"]
    first_msg, left_msg = _inbound(sessions, "u-left")
    assert first_msg.sentiment_label == "angry"
    assert left_msg.sentiment_label is not None and left_msg.sentiment_label != "angry"
    assert left_msg.sentiment_score is not None and left_msg.anger is not None
    engine.dispose()
