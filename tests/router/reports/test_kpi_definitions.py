"""KPI definitions on a fixed day computed by hand (tests/router/reports/seeded_day.py): every card agrees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from router.db import session_scope
from router.reports.kpis import compute_kpis
from router.settings import Settings
from router.tickets.service import TicketService
from tests.router.ops_support import add_user, bearer, migrated, ops_app, running
from tests.router.reports.seeded_day import EXPECTED, EXPECTED_BY_CHANNEL, write_day

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@pytest.fixture
def day(tmp_path: Path):
    engine, sessions = migrated(tmp_path)
    agent = add_user(sessions, "amy", skills={"general": 4})
    bob = add_user(sessions, "bob", skills={"general": 4})
    before = write_day(sessions, T0 - timedelta(days=1), {"a": agent, "b": bob})  # the day before: outside the range
    ids = write_day(sessions, T0, {"a": agent, "b": bob}, tickets=TicketService(session_factory=sessions))
    yield engine, sessions, ids, before, agent
    engine.dispose()


def test_every_figure_equals_the_hand_computed_value(day) -> None:
    _engine, sessions, _ids, _before, _agent = day
    with session_scope(sessions) as s:
        report = compute_kpis(s, since=T0, until=T0 + timedelta(hours=2), service_level_s=20.0, timezone="UTC")
    t = report.totals.model_dump()
    for name, value in EXPECTED.items():
        assert t[name] == pytest.approx(value, abs=1e-4), name
    assert {ch: v.conversations for ch, v in report.by_channel.items()} == EXPECTED_BY_CHANNEL


def test_the_cards_agree_with_each_other(day) -> None:
    _engine, sessions, _ids, _before, agent = day
    with session_scope(sessions) as s:
        report = compute_kpis(s, since=T0, until=T0 + timedelta(hours=2), service_level_s=20.0, timezone="UTC")
    t = report.totals
    assert t.conversations == t.ended + t.open
    assert t.handoffs == t.queued + t.left_message  # one number of hand-offs, split by what became of them
    assert t.queued == t.answered + t.abandoned + t.waiting
    ended_with_handoff = t.handoffs - t.waiting  # only c9 is still open among the hand-offs
    assert t.ended == t.bot_resolved + ended_with_handoff
    # the hourly chart and the channel table sum to the cards
    for name in ("conversations", "ended", "bot_resolved", "handoffs", "queued", "answered", "abandoned",
                 "faq_decisions", "faq_answered", "surveys"):
        assert sum(getattr(h.values, name) for h in report.by_hour) == getattr(t, name), name
        assert sum(getattr(v, name) for v in report.by_channel.values()) == getattr(t, name), name
    assert [h.values.conversations for h in report.by_hour] == [9, 1]
    # c5 rated 5 by amy's shopper; c6 (transferred from amy to bob) rated 2 for bob
    assert [(a.agent_id, a.surveys, a.csat_avg) for a in report.csat_by_agent] == [(agent, 1, 5.0), (agent + 1, 1, 2.0)]


def test_open_bot_conversations_do_not_pull_containment_to_zero(day) -> None:
    """The issue's "机器人解决率 0.0 % beside FAQ 回答率 84 %": open bot chats are not counted as unresolved."""
    _engine, sessions, _ids, _before, _agent = day
    with session_scope(sessions) as s:
        first_quarter = compute_kpis(s, since=T0, until=T0 + timedelta(minutes=12), timezone="UTC")
    t = first_quarter.totals
    # c1 c2 ended by the bot, c3 still open: 2 of 2 ended conversations were contained
    assert (t.conversations, t.ended, t.bot_resolved, t.containment_rate) == (3, 2, 2, 1.0)


def test_the_kpi_api_serves_the_same_figures(day) -> None:
    engine, sessions, _ids, _before, _agent = day
    settings = Settings(database_url="sqlite://", service_level_s=20.0, report_timezone="UTC")
    sup = add_user(sessions, "sup", role="supervisor")
    with running(ops_app(settings, engine)) as client:
        params = {"since": T0.isoformat(), "until": (T0 + timedelta(hours=2)).isoformat()}
        res = client.get("/api/v1/kpis", params=params, headers=bearer(settings, sup, "sup", "supervisor"))
    assert res.status_code == 200, res.text
    totals = res.json()["totals"]
    for name, value in EXPECTED.items():
        assert totals[name] == pytest.approx(value, abs=1e-4), name
