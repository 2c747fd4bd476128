"""``kefu report --since ... --until ...``: the KPI table for a period (and ``--csv PATH`` for a spreadsheet)."""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from router.db import make_engine, make_session_factory, session_scope
from router.reports.agents import Period, compute_agent_performance, to_csv
from router.reports.kpis import KpiReport, compute_kpis, fmt, table_rows
from router.settings import get_settings
from router.supervision.quality import quality_scores

app = typer.Typer(help="KPI reports from stored conversations.", add_completion=False)


def parse_when(value: str, tz: str) -> datetime:
    """``2026-11-24`` (midnight), ``2026-11-24T09:30`` or with an offset; naive values are in the report zone."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = datetime.combine(date.fromisoformat(value), datetime.min.time())
        except ValueError as exc:
            raise typer.BadParameter(f"not an ISO date or date-time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(tz))


def write_csv(report: KpiReport, path: Path) -> None:
    """One row per hour and per channel plus the total, one column per KPI (machine-readable values)."""
    fields = list(type(report.totals).model_fields)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["scope", "key", *fields])
        writer.writerow(["total", "", *[_cell(getattr(report.totals, k)) for k in fields]])
        for ch, values in report.by_channel.items():
            writer.writerow(["channel", ch, *[_cell(getattr(values, k)) for k in fields]])
        for hour in report.by_hour:
            writer.writerow(["hour", hour.hour.isoformat(), *[_cell(getattr(hour.values, k)) for k in fields]])


def _cell(value: object) -> str:
    return "" if value is None else str(value)


@app.callback(invoke_without_command=True)
def report(
    since: Annotated[str, typer.Option(help="start (ISO date or date-time, report time zone unless given)")],
    until: Annotated[str | None, typer.Option(help="end, exclusive (default: now)")] = None,
    channel: Annotated[str | None, typer.Option(help="web | app | miniprogram")] = None,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="also write total, channel and hour KPIs here")] = None,
    database_url: Annotated[str | None, typer.Option(help="default: KEFU_ROUTER_DATABASE_URL")] = None,
    agents: Annotated[bool, typer.Option("--agents", help="per-agent performance instead of the KPI table")] = False,
    period: Annotated[str, typer.Option(help="with --agents: day | week")] = "day",
) -> None:
    """Print the KPI table for a period (or, with --agents, each agent's performance per day or week)."""
    settings = get_settings()
    tz = settings.report_timezone
    start = parse_when(since, tz)
    end = parse_when(until, tz) if until else datetime.now(ZoneInfo(tz))
    if end <= start:
        raise typer.BadParameter("--until must be after --since")
    if channel is not None and channel not in ("web", "app", "miniprogram"):
        raise typer.BadParameter("--channel must be web, app or miniprogram")
    if period not in ("day", "week"):
        raise typer.BadParameter("--period must be day or week")
    if agents:
        _agents_report(database_url or settings.database_url, start, end, period, tz, csv_path)  # type: ignore[arg-type]
        return
    engine = make_engine(database_url or settings.database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            result = compute_kpis(
                session, since=start, until=end, channel=channel, service_level_s=settings.service_level_s,
                service_level_target=settings.service_level_target, timezone=tz,
            )
    except SQLAlchemyError as exc:
        typer.echo(f"cannot read the KPIs from {engine.url.render_as_string(hide_password=True)}: "
                   f"{type(exc).__name__} (is the database migrated?)", err=True)
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    header, rows = table_rows(result)
    table = Table(title=f"kefu KPIs {start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} ({tz})" + (
        f" · {channel}" if channel else ""))
    for col in header:
        table.add_column(col, justify="left" if col == "KPI" else "right")
    for row in rows:
        table.add_row(*row)
    console = Console(width=140)
    console.print(table)
    target = f"{settings.service_level_target * 100:.0f}/{settings.service_level_s:.0f}"
    met = result.service_level_met
    console.print(f"service level {fmt(result.totals.service_level, 'pct')} vs target {target}: "
                  + ("met" if met else "missed" if met is not None else "no hand-offs"))
    if csv_path is not None:
        write_csv(result, csv_path)
        console.print(f"CSV written to {csv_path}")


AGENT_COLUMNS: list[tuple[str, str, str]] = [
    ("handled", "接待 handled", "int"),
    ("first_response_s", "首响 FRT (s)", "num"),
    ("aht_s", "平均处理 AHT (s)", "num"),
    ("resolution_rate", "无工单解决 resolved", "pct"),
    ("transfer_rate", "转接率 transfer", "pct"),
    ("csat_avg", "满意度 CSAT", "num"),
    ("quality_score", "质检 quality", "num"),
    ("occupancy", "占用率 occupancy", "pct"),
]


def _agents_report(url: str, start: datetime, end: datetime, period: Period, tz: str, csv_path: Path | None) -> None:
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            result = compute_agent_performance(session, since=start, until=end, period=period, timezone=tz,
                                               quality=quality_scores)
    except SQLAlchemyError as exc:
        typer.echo(f"cannot read agent performance from {engine.url.render_as_string(hide_password=True)}: "
                   f"{type(exc).__name__} (is the database migrated?)", err=True)
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    table = Table(title=f"kefu agents {start:%Y-%m-%d} – {end:%Y-%m-%d} ({tz}) per {period}")
    for col in ["agent", period, *[label for _, label, _ in AGENT_COLUMNS]]:
        table.add_column(col, justify="left" if col in ("agent", period) else "right")
    for row in result.rows:
        table.add_row(row.name, row.period_start.isoformat(),
                      *[fmt(getattr(row, name), kind) for name, _, kind in AGENT_COLUMNS])
    console = Console(width=160)
    console.print(table)
    if csv_path is not None:
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        csv_path.write_text("\ufeff" + to_csv(result), encoding="utf-8")
        console.print(f"CSV written to {csv_path}")
