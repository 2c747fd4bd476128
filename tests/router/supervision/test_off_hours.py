"""Working hours reach the shopper: through the real gateway (Rasa down, an agent online), a hand-off outside the
skill group's hours is not queued; the shopper is told the hours and may leave a message."""

from __future__ import annotations

import socket
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from router.app import create_app
from router.conversations.models import ConversationEvent
from router.db import session_scope
from router.identity import identity_hash
from router.settings import Settings
from tests.router.ops_support import TEST_WEB_SECRET, add_user, bearer, migrated, running

pytestmark = pytest.mark.slow


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def signed(customer_id: str) -> dict[str, str]:
    """A web shopper the shop has signed in."""
    return {"customer_id": customer_id, "identity_hash": identity_hash(TEST_WEB_SECRET, customer_id)}


def test_outside_the_hours_the_shopper_is_told_the_hours(tmp_path: Path) -> None:
    settings = Settings(database_url="sqlite://", rasa_url=f"http://127.0.0.1:{closed_port()}", rasa_timeout_s=2.0,
                        report_timezone="Asia/Shanghai", operations_background=False,
                        web_identity_secret=TEST_WEB_SECRET)
    engine, sessions = migrated(tmp_path)
    sup = add_user(sessions, "sue", role="supervisor", status="offline")
    add_user(sessions, "wang", skills={"general": 5, "logistics": 5, "after_sales": 5, "billing": 5, "product": 5})
    today = datetime.now(ZoneInfo("Asia/Shanghai")).weekday()
    closed_today = [d for d in range(7) if d != today]  # every day but today: closed now, whatever the hour
    app = create_app(settings, db_engine=engine, with_gateway=True)
    with running(app) as client:
        boss = bearer(settings, sup, "sue", "supervisor")
        for skill in ("general", "logistics", "after_sales", "billing", "product"):
            res = client.put(f"/api/v1/team/hours/{skill}", headers=boss,
                             json={"days": closed_today, "opens": "09:00", "closes": "18:00"})
            assert res.status_code == 200, res.text
        said = client.post("/api/v1/messages", json={"channel": "web", "text": "我要转人工客服", **signed("u-night")})
        assert said.status_code == 200, said.text
        texts = " ".join(r["text"] for r in said.json()["replies"])
        assert "不在人工客服的服务时间内" in texts and "09:00-18:00" in texts and "留言" in texts
        assert said.json()["owner"] == "bot"
        assert client.app.state.engine.items == {}  # not queued
        # back to always open: the next hand-off is queued and offered to wang
        for skill in ("general", "logistics", "after_sales", "billing", "product"):
            assert client.delete(f"/api/v1/team/hours/{skill}", headers=boss).status_code == 204
        again = client.post("/api/v1/messages", json={"channel": "web", "text": "我要转人工客服", **signed("u-day")})
        assert again.json()["owner"] in ("queue", "agent")
    with session_scope(sessions) as s:
        event = s.scalar(select(ConversationEvent).where(ConversationEvent.type == "no_agent_online"))
        assert event is not None and "09:00-18:00" in event.data["off_hours"]
    engine.dispose()
