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
from router.reports.kpis import KpiReport, compute_kpis, fmt, table_rows
from router.settings import get_settings

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
) -> None:
    """Print the KPI table for a period."""
    settings = get_settings()
    tz = settings.report_timezone
    start = parse_when(since, tz)
    end = parse_when(until, tz) if until else datetime.now(ZoneInfo(tz))
    if end <= start:
        raise typer.BadParameter("--until must be after --since")
    if channel is not None and channel not in ("web", "app", "miniprogram"):
        raise typer.BadParameter("--channel must be web, app or miniprogram")
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
