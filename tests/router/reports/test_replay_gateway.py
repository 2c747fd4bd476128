"""Generated scripts replayed through the real gateway (``POST /api/v1/messages`` of the app built by create_app,
real sentiment model) while the Rasa server is down: every message is stored and answered politely, and the
operations side (KPIs, spike detection) works on what the gateway wrote."""

from __future__ import annotations

import random
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from router.alerts.detector import DetectorConfig
from router.alerts.service import AlertService
from router.app import create_app
from router.conversations.models import ConversationEvent, Message
from router.db import session_scope
from router.demo.traffic import generate_scripts, make_script, replay
from router.gateway.schemas import InboundMessage
from router.reports.kpis import compute_kpis
from router.settings import Settings
from tests.artifacts import require_built
from tests.router.ops_support import TEST_WEB_SECRET, add_user, bearer, channel_key, migrated, running, shop_keys

pytestmark = pytest.mark.slow


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_generated_scripts_are_valid_gateway_input() -> None:
    for script in generate_scripts(300, seed=3):
        for text in script.turns:
            InboundMessage(channel=script.channel, customer_id=script.customer_id, text=text)  # type: ignore[arg-type]


def test_replay_through_the_gateway_feeds_kpis_and_alerts(tmp_path: Path) -> None:
    settings = Settings(database_url="sqlite://", rasa_url=f"http://127.0.0.1:{closed_port()}", rasa_timeout_s=2.0,
                        web_identity_secret=TEST_WEB_SECRET)
    require_built(settings.sentiment_model_path, "the sentiment model")
    engine, sessions = migrated(tmp_path)
    rng = random.Random(8)
    scripts = [make_script(rng, "faq_answered", topic="package_lost") for _ in range(10)]
    scripts += generate_scripts(10, seed=5, mix={"faq_answered": 0.5, "order_status": 0.5})
    app = create_app(settings.model_copy(update={"operations_background": False}), db_engine=engine,
                     with_gateway=True)
    began = datetime.now(UTC)
    with running(app) as client:
        results = replay("", scripts, client=client, keys=shop_keys(client))
    assert all(r.statuses and set(r.statuses) == {200} for r in results)
    assert all(r.conversation_id and r.replies[0] for r in results)
    assert {o for r in results for o in r.owners} == {"bot"}  # nobody online: the bot keeps them, politely
    turns = sum(len(s.turns) for s in scripts)
    with session_scope(sessions) as s:
        inbound = s.scalar(select(func.count()).select_from(Message).where(Message.direction == "in"))
        labelled = s.scalar(
            select(func.count()).select_from(Message).where(Message.sentiment_label.is_not(None))
        )
        down = s.scalar(
            select(func.count()).select_from(ConversationEvent).where(ConversationEvent.type == "bot_unavailable")
        )
        report = compute_kpis(s, since=began - timedelta(minutes=1), until=datetime.now(UTC) + timedelta(seconds=1))
    assert inbound == turns and labelled == turns and down == turns
    assert report.totals.conversations == len({r.conversation_id for r in results})
    assert set(report.by_channel) <= {"web", "app", "miniprogram"}
    detector = DetectorConfig(window_s=600, bucket_s=600, baseline_s=3600, min_count=8)
    alerts = AlertService(session_factory=sessions, config=detector).evaluate(now=datetime.now(UTC))
    assert ("topic", "package_lost") in {(a.signal, a.key) for a in alerts}
    engine.dispose()


def test_a_message_left_while_nobody_is_online_becomes_a_ticket(tmp_path: Path) -> None:
    settings = Settings(database_url="sqlite://", rasa_url=f"http://127.0.0.1:{closed_port()}", rasa_timeout_s=2.0)
    require_built(settings.sentiment_model_path, "the sentiment model")
    engine, sessions = migrated(tmp_path)
    sup = add_user(sessions, "sue", role="supervisor", status="offline")
    # off shift now: nobody is online, yet tickets still go to whoever has the skill (picked up next shift)
    liu = add_user(sessions, "liu", skills={"logistics": 4}, status="offline")
    add_user(sessions, "ma", skills={"billing": 4}, status="offline")
    app = create_app(settings, db_engine=engine, with_gateway=True)
    with running(app) as client:
        shop = channel_key(client)
        angry = client.post("/api/v1/messages", headers=shop, json={
            "channel": "app", "customer_id": "u-angry",
            "text": "你们到底怎么回事！包裹丢了一个星期都没人管，气死我了！"})
        assert angry.status_code == 200 and angry.json()["sentiment"]["label"] == "angry"
        left = client.post("/api/v1/messages", headers=shop, json={
            "channel": "app", "customer_id": "u-angry",
            "text": "物流显示签收了但我根本没收到，订单 2026112400012345，电话 13800138000，请尽快联系我"})
        assert left.status_code == 200
        reply = left.json()["replies"][0]["text"]
        assert "工单号" in reply
        listed = client.get("/api/v1/tickets", headers=bearer(settings, sup, "sue", "supervisor")).json()
    assert listed["total"] == 1
    ticket = listed["items"][0]
    assert ticket["ref"] in reply and ticket["source"] == "leave_message"
    assert ticket["category"] == "logistics" and ticket["topic"] == "package_lost"
    assert ticket["priority"] >= 5  # angry (+3) and a lost package (+2)
    assert ticket["customer_id"] == "u-angry" and ticket["channel"] == "app"
    assert ticket["assignee_id"] == liu and ticket["status"] == "assigned"
    with session_scope(sessions) as s:
        event = s.scalar(select(ConversationEvent).where(ConversationEvent.type == "ticket_created"))
        assert event is not None and event.data["ticket_id"] == ticket["ref"]
    engine.dispose()
