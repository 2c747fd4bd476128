"""KPIs over generated traffic in a real migrated database, checked against what the generator scripted."""

from __future__ import annotations

import csv
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from router.cli import app as cli_app
from router.conversations.models import Conversation
from router.db import session_scope
from router.demo.traffic import Script, TrafficWriter, make_script
from router.reports.kpis import compute_kpis
from router.settings import Settings
from router.tickets.service import TicketService
from tests.router.ops_support import add_user, bearer, migrated, ops_app, running

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
BOT_KINDS = {"faq_answered", "faq_clarified", "order_status"}


@pytest.fixture
def traffic(tmp_path: Path):
    engine, sessions = migrated(tmp_path)
    rng = random.Random(11)
    kinds = ["faq_answered"] * 60 + ["faq_clarified"] * 10 + ["order_status"] * 20 + ["unknown_to_agent"] * 25 + [
        "angry_complaint"] * 15 + ["abandoned"] * 12 + ["left_message"] * 8
    rng.shuffle(kinds)
    items: list[tuple[Script, datetime]] = [
        (make_script(rng, kind), T0 + timedelta(seconds=rng.uniform(0, 12 * 3600))) for kind in kinds  # type: ignore[arg-type]
    ]
    tickets = TicketService(session_factory=sessions)
    TrafficWriter(sessions, seed=2, tickets=tickets, queue_wait_mean_s=20).write_scripts(items)
    yield engine, sessions, items
    engine.dispose()


def test_kpis_match_the_scripted_traffic(traffic) -> None:
    engine, sessions, items = traffic
    with session_scope(sessions) as s:
        report = compute_kpis(s, since=T0, until=T0 + timedelta(hours=12), service_level_s=20.0, timezone="UTC")
        convs = s.execute(select(Conversation.assigned_at, Conversation.handed_off_at)).all()
    t = report.totals
    n = len(items)
    kinds = [script.kind for script, _ in items]
    assert t.conversations == n
    # the generator ends every conversation (idle close, agent close, abandonment or a left message)
    assert t.ended == n and t.open == 0
    assert t.bot_resolved == sum(k in BOT_KINDS for k in kinds)
    assert t.containment_rate == pytest.approx(t.bot_resolved / t.ended, abs=1e-4)
    # every non-bot script asked for a human, counted once per conversation
    assert t.handoffs == n - t.bot_resolved
    assert t.escalation_rate == pytest.approx(1 - t.containment_rate, abs=1e-3)
    to_agent = sum(k in ("unknown_to_agent", "angry_complaint") for k in kinds)
    assert t.answered == to_agent
    assert t.abandoned == kinds.count("abandoned")
    assert t.queued == to_agent + kinds.count("abandoned")  # left messages never reached the queue
    assert t.left_message == kinds.count("left_message") == t.handoffs - t.queued
    assert t.abandonment_rate == pytest.approx(t.abandoned / t.queued, abs=1e-4)
    waits = [(a - h).total_seconds() for a, h in convs if a is not None]
    assert t.asa_s == pytest.approx(sum(waits) / len(waits), abs=0.1)
    within = sum(w <= 20.0 for w in waits)
    assert t.service_level == pytest.approx(within / (len(waits) + t.abandoned), abs=1e-4)
    assert t.first_response_s is not None and t.asa_s is not None and t.first_response_s > t.asa_s
    # FAQ: every decision the bot took; clarifications and declines are not answers
    assert t.faq_decisions > t.faq_answered > 0
    # left messages became tickets at the scripted time; nobody answered them in days, so every one is overdue
    assert t.tickets == kinds.count("left_message") and t.ticket_sla_breaches == t.tickets
    assert 0 < t.surveys <= to_agent and 1 <= (t.csat_avg or 0) <= 5
    # angry shoppers rate worse than the others
    assert report.csat_by_agent and sum(a.surveys for a in report.csat_by_agent) == t.surveys
    # channels and hours partition the totals
    assert sum(v.conversations for v in report.by_channel.values()) == n
    assert sum(h.values.conversations for h in report.by_hour) == n
    assert len(report.by_hour) == 12
    assert sum(h.values.surveys for h in report.by_hour) == t.surveys
    with session_scope(sessions) as s:
        early = compute_kpis(s, since=T0, until=T0 + timedelta(hours=12), timezone="UTC", now=T0 + timedelta(hours=1))
    assert early.totals.ticket_sla_breaches == 0  # an hour in, no first-response target (>= 1 h) has run out


def test_channel_filter_equals_the_channel_breakdown(traffic) -> None:
    engine, sessions, items = traffic
    with session_scope(sessions) as s:
        everything = compute_kpis(s, since=T0, until=T0 + timedelta(days=1), timezone="Asia/Shanghai")
        app_only = compute_kpis(s, since=T0, until=T0 + timedelta(days=1), channel="app", timezone="Asia/Shanghai")
        empty = compute_kpis(s, since=T0 - timedelta(days=2), until=T0 - timedelta(days=1))
    assert app_only.totals == everything.by_channel["app"]
    assert list(app_only.by_channel) == ["app"]
    assert app_only.by_hour[0].hour.utcoffset() == timedelta(hours=8)
    assert empty.totals.conversations == 0 and empty.totals.containment_rate is None
    with pytest.raises(ValueError):
        compute_kpis(s, since=T0, until=T0)


def test_kpi_api_metrics_and_roles(traffic) -> None:
    engine, sessions, items = traffic
    settings = Settings(database_url="sqlite://", service_level_s=20.0)
    sup = add_user(sessions, "sup", role="supervisor")
    agent = add_user(sessions, "ag", role="agent")
    with running(ops_app(settings, engine)) as client:
        url = "/api/v1/kpis"
        params = {"since": T0.isoformat(), "until": (T0 + timedelta(hours=12)).isoformat()}
        ok = client.get(url, params=params, headers=bearer(settings, sup, "sup", "supervisor"))
        assert ok.status_code == 200, ok.text
        body = ok.json()
        assert body["totals"]["conversations"] == len(items)
        assert set(body["by_channel"]) <= {"web", "app", "miniprogram"} and len(body["by_hour"]) == 12
        assert client.get(url, params=params, headers=bearer(settings, agent, "ag", "agent")).status_code == 403
        assert client.get(url, params=params).status_code == 401
        bad = client.get(url, params={"since": params["until"], "until": params["since"]},
                         headers=bearer(settings, sup, "sup", "supervisor"))
        assert bad.status_code == 422
        assert client.get(url, params={**params, "channel": "fax"},
                          headers=bearer(settings, sup, "sup", "supervisor")).status_code == 422
        assert client.get(url, params={"since": "yesterday"},
                          headers=bearer(settings, sup, "sup", "supervisor")).status_code == 422
        assert client.get("/metrics").status_code == 401  # a supervisor's JWT or the scraper's token
        metrics = client.get("/metrics", headers=bearer(settings, sup, "sup", "supervisor"))
        assert metrics.status_code == 200
        text = metrics.text
        assert "kefu_conversations_total{" in text and 'resolution="bot"' in text
        assert 'kefu_conversation_events_total{channel="web",type="faq"}' in text
        assert 'kefu_tickets{category="' in text
        spec = client.get("/openapi.json").json()["paths"]
        assert "/api/v1/kpis" in spec and "/api/v1/tickets" in spec and "/api/v1/alerts" in spec
        assert "/api/v1/learning/proposals" in spec


def test_metrics_gauges_follow_the_last_day(tmp_path: Path) -> None:
    engine, sessions = migrated(tmp_path, "live.db")
    now = datetime.now(UTC)
    TrafficWriter(sessions, seed=9).write(80, start=now - timedelta(hours=6), end=now - timedelta(minutes=30))
    with session_scope(sessions) as s:
        day = compute_kpis(s, since=now - timedelta(hours=24), until=now, timezone="UTC")
    scraper = "kpi-test-metrics-token-0123456789abcdef"
    with running(ops_app(Settings(database_url="sqlite://", metrics_token=scraper), engine)) as client:
        text = client.get("/metrics", headers={"Authorization": f"Bearer {scraper}"}).text
    line = next(ln for ln in text.splitlines() if ln.startswith('kefu_containment_ratio{channel="all"}'))
    assert float(line.split()[-1]) == pytest.approx(day.totals.containment_rate or 0, abs=1e-3)
    line = next(ln for ln in text.splitlines() if ln.startswith('kefu_conversations_window{channel="all"}'))
    assert float(line.split()[-1]) == 80
    engine.dispose()


def test_report_cli_prints_the_table_and_writes_csv(traffic, tmp_path: Path) -> None:
    engine, sessions, items = traffic
    url = str(engine.url)
    out = tmp_path / "kpis.csv"
    runner = CliRunner()
    result = runner.invoke(cli_app, ["report", "--since", "2026-11-23T08:00", "--until", "2026-11-23T20:00",
                                     "--database-url", url, "--csv", str(out)])
    assert result.exit_code == 0, result.output
    assert "containment" in result.output and "ASA" in result.output and "service level" in result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    total = next(r for r in rows if r["scope"] == "total")
    assert int(total["conversations"]) == len(items)  # 08:00-20:00 Shanghai is 00:00-12:00 UTC
    assert {r["key"] for r in rows if r["scope"] == "channel"} <= {"web", "app", "miniprogram"}
    assert sum(1 for r in rows if r["scope"] == "hour") == 12
    app_only = runner.invoke(cli_app, ["report", "--since", "2026-11-23", "--until", "2026-11-24", "--channel", "app",
                                       "--database-url", url])
    assert app_only.exit_code == 0, app_only.output
    bad = runner.invoke(cli_app, ["report", "--since", "not-a-date", "--database-url", url])
    assert bad.exit_code != 0 and "not an ISO date" in bad.output
    backwards = runner.invoke(cli_app, ["report", "--since", "2026-11-24", "--until", "2026-11-23",
                                        "--database-url", url])
    assert backwards.exit_code != 0
    empty = runner.invoke(cli_app, ["report", "--since", "2026-11-23", "--database-url",
                                    f"sqlite:///{tmp_path / 'never-migrated.db'}"])
    assert empty.exit_code == 2 and "migrated" in empty.output


def test_seed_history_fills_a_demo_database(tmp_path: Path) -> None:
    from router.demo.traffic import seed_history

    engine, sessions = migrated(tmp_path, "demo.db")
    add_user(sessions, "amy", skills={"logistics": 4, "after_sales": 3, "billing": 2})
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    summary = seed_history(str(engine.url), conversations=200, days=2, seed=1, now=now)
    assert summary["conversations"] == 212 and summary["sla_breaches"] > 0
    with session_scope(sessions) as s:
        report = compute_kpis(s, since=now - timedelta(days=2), until=now, now=now)
    assert report.totals.conversations == 212 and report.totals.tickets > 0
    assert report.totals.csat_avg is not None and report.totals.containment_rate is not None
    engine.dispose()
