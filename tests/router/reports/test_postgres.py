"""The same seeded traffic in SQLite and PostgreSQL gives the same KPIs, tickets and alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from router.alerts.detector import DetectorConfig
from router.alerts.service import AlertService
from router.db import make_engine, make_session_factory, session_scope
from router.demo.traffic import TrafficWriter
from router.migrate import upgrade
from router.reports.kpis import compute_kpis
from router.routing.store import SqlStore
from router.tickets.assign import SkillAssigner, store_directory
from router.tickets.service import TicketService
from tests.router.ops_support import add_user, fresh_pg_url, migrated

pytestmark = pytest.mark.pg
T0 = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)


def _fill(engine, sessions) -> dict[str, object]:  # type: ignore[no-untyped-def]
    add_user(sessions, "amy", skills={"logistics": 3, "after_sales": 3})
    tickets = TicketService(sessions, assigner=SkillAssigner(store_directory(SqlStore(engine))),
                            clock=lambda: T0 + timedelta(hours=30))
    writer = TrafficWriter(sessions, seed=31, tickets=tickets)
    writer.write(150, start=T0, end=T0 + timedelta(hours=12))
    writer.write_spike(topic="package_lost", start=T0 + timedelta(hours=12, minutes=1), duration_s=300, count=20)
    refs = tickets.sweep_unresolved()
    with session_scope(sessions) as s:
        report = compute_kpis(s, since=T0, until=T0 + timedelta(hours=13), timezone="Asia/Shanghai",
                              now=T0 + timedelta(hours=30))
    breaches = tickets.check_breaches(now=T0 + timedelta(hours=30))
    alerts = AlertService(session_factory=sessions, config=DetectorConfig(baseline_s=6 * 3600)).evaluate(
        now=T0 + timedelta(hours=12, minutes=8))
    listed, total = tickets.list_tickets(status=["assigned"], limit=500)
    return {
        "report": report.model_dump(),
        "unresolved": len(refs),
        "breaches": sorted(breaches),
        "alerts": sorted((a.signal, a.key, a.value) for a in alerts),
        "assigned": total,
    }


def test_sqlite_and_postgres_agree(tmp_path: Path) -> None:
    lite_engine, lite_sessions = migrated(tmp_path)
    lite = _fill(lite_engine, lite_sessions)
    lite_engine.dispose()
    with fresh_pg_url() as url:
        upgrade(url)
        pg_engine = make_engine(url)
        try:
            pg = _fill(pg_engine, make_session_factory(pg_engine))
        finally:
            pg_engine.dispose()
    assert lite["report"]["totals"]["conversations"] == 170  # type: ignore[index]
    assert ("topic", "package_lost") in {(s, k) for s, k, _ in lite["alerts"]}  # type: ignore[attr-defined]
    assert lite["unresolved"] and lite["breaches"] and lite["assigned"]
    assert pg == lite
