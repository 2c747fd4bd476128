"""Per-agent performance on the hand-computed day (tests/router/reports/seeded_day.py): API, CSV, CLI, roles."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from router.cli import app as cli_app
from router.db import session_scope
from router.reports.agents import compute_agent_performance
from router.settings import Settings
from tests.router.ops_support import add_user, bearer, migrated, ops_app, running
from tests.router.reports.seeded_day import EXPECTED_AGENTS, write_day

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
SETTINGS = Settings(database_url="sqlite://", report_timezone="Asia/Shanghai")


@pytest.fixture
def day(tmp_path: Path):
    engine, sessions = migrated(tmp_path)
    amy = add_user(sessions, "amy", skills={"general": 4})
    bob = add_user(sessions, "bob", skills={"general": 4})
    write_day(sessions, T0, {"a": amy, "b": bob})
    write_day(sessions, T0 + timedelta(days=1), {"a": amy, "b": bob})  # Tuesday: the same again
    yield engine, sessions, {"a": amy, "b": bob}
    engine.dispose()


def check(row: dict[str, object], expected: dict[str, object], times: int = 1) -> None:
    counts = {"handled", "ended", "resolved_without_ticket", "transferred", "surveys", "busy_s", "online_s"}
    for name, value in expected.items():
        want = value * times if name in counts and isinstance(value, float | int) else value
        assert row[name] == (pytest.approx(want, abs=1e-4) if want is not None else None), name


def test_per_day_and_per_week_equal_the_hand_computed_values(day) -> None:
    _engine, sessions, agents = day
    with session_scope(sessions) as s:
        daily = compute_agent_performance(s, since=T0 - timedelta(hours=10), until=T0 + timedelta(days=2),
                                          period="day", timezone="Asia/Shanghai", now=T0 + timedelta(days=3))
        weekly = compute_agent_performance(s, since=T0 - timedelta(hours=10), until=T0 + timedelta(days=2),
                                           period="week", timezone="Asia/Shanghai", now=T0 + timedelta(days=3))
    by = {(r.agent_id, r.period_start.isoformat()): r.model_dump() for r in daily.rows}
    for key in ("a", "b"):
        for day_ in ("2026-11-23", "2026-11-24"):
            check(by[(agents[key], day_)], EXPECTED_AGENTS[key])
        week = next(r.model_dump() for r in weekly.rows if r.agent_id == agents[key])
        assert str(week["period_start"]) == "2026-11-23"  # the Monday
        check(week, EXPECTED_AGENTS[key], times=2)
    assert len(daily.rows) == 4 and len(weekly.rows) == 2


def test_api_csv_and_roles(day) -> None:
    engine, sessions, agents = day
    sup = add_user(sessions, "sup", role="supervisor")
    params = {"since": T0.isoformat(), "until": (T0 + timedelta(days=1)).isoformat()}
    with running(ops_app(SETTINGS, engine)) as client:
        res = client.get("/api/v1/reports/agents", params=params, headers=bearer(SETTINGS, sup, "sup", "supervisor"))
        assert res.status_code == 200, res.text
        totals = {r["agent_id"]: r for r in res.json()["totals"]}
        check(totals[agents["a"]], {k: v for k, v in EXPECTED_AGENTS["a"].items() if k != "online_s"})
        csv_res = client.get("/api/v1/reports/agents", params={**params, "format": "csv"},
                             headers=bearer(SETTINGS, sup, "sup", "supervisor"))
        assert csv_res.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(csv_res.text.lstrip("\ufeff"))))
        amy = next(r for r in rows if r["scope"] == "period" and r["agent_id"] == str(agents["a"]))
        assert (amy["handled"], amy["aht_s"], amy["transfer_rate"]) == ("2", "170.0", "0.5")
        # an agent sees only their own figures
        own = client.get("/api/v1/reports/agents", params=params, headers=bearer(SETTINGS, agents["b"], "bob", "agent"))
        assert {r["agent_id"] for r in own.json()["rows"]} == {agents["b"]}
        other = client.get("/api/v1/reports/agents", params={**params, "agent_id": agents["a"]},
                           headers=bearer(SETTINGS, agents["b"], "bob", "agent"))
        assert other.status_code == 403
        bad = client.get("/api/v1/reports/agents", params={**params, "period": "month"},
                         headers=bearer(SETTINGS, sup, "sup", "supervisor"))
        assert bad.status_code == 422


def test_report_cli_prints_agents_and_writes_csv(day, tmp_path: Path) -> None:
    engine, _sessions, _agents = day
    out = tmp_path / "agents.csv"
    result = CliRunner().invoke(cli_app, ["report", "--since", "2026-11-23", "--until", "2026-11-25", "--agents",
                                          "--period", "week", "--database-url", str(engine.url), "--csv", str(out)])
    assert result.exit_code == 0, result.output
    assert "amy" in result.output and "170.0" in result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert {r["name"] for r in rows} == {"amy", "bob"} and all(r["period_start"] == "2026-11-23" for r in rows)
