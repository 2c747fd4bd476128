"""KPI JSON for the dashboard (supervisors) and the Prometheus ``/metrics`` endpoint."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from router.api.deps import MetricsDep, SessionsDep, SettingsDep
from router.auth import CurrentSupervisor, CurrentUser, Forbidden, Principal, metrics_reader
from router.clock import aware, utcnow
from router.db import session_scope
from router.reports.agents import AgentPerformance, compute_agent_performance, to_csv
from router.reports.errors import InvalidRange
from router.reports.kpis import KpiReport, compute_kpis
from router.supervision.quality import quality_scores

router = APIRouter(tags=["reports"])
MAX_RANGE = timedelta(days=366)


@router.get("/api/v1/kpis", response_model=KpiReport, summary="KPIs over a time range, by channel and by hour")
def kpis(
    sessions: SessionsDep,
    settings: SettingsDep,
    _user: CurrentSupervisor,
    since: Annotated[datetime | None, Query(description="ISO date-time; default: 24 h before until")] = None,
    until: Annotated[datetime | None, Query(description="ISO date-time, exclusive; default: now")] = None,
    channel: Annotated[Literal["web", "app", "miniprogram"] | None, Query()] = None,
) -> KpiReport:
    end = aware(until) if until else utcnow()
    start = aware(since) if since else end - timedelta(hours=24)
    _check_range(start, end)
    with session_scope(sessions) as session:
        return compute_kpis(
            session, since=start, until=end, channel=channel, service_level_s=settings.service_level_s,
            service_level_target=settings.service_level_target, timezone=settings.report_timezone,
        )


@router.get("/api/v1/reports/agents", response_model=AgentPerformance,
            summary="Per-agent performance per day or week (agents see only their own); format=csv for a spreadsheet")
def agent_performance(
    sessions: SessionsDep,
    settings: SettingsDep,
    user: CurrentUser,
    since: Annotated[datetime | None, Query(description="ISO date-time; default: 7 days before until")] = None,
    until: Annotated[datetime | None, Query(description="ISO date-time, exclusive; default: now")] = None,
    period: Annotated[Literal["day", "week"], Query()] = "day",
    agent_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Any:
    if user.role not in ("supervisor", "admin"):
        if user.role != "agent":
            raise Forbidden(f"role {user.role} may not read agent performance")
        if agent_id not in (None, user.id):
            raise Forbidden("agents see their own performance only")
        agent_id = user.id
    end = aware(until) if until else utcnow()
    start = aware(since) if since else end - timedelta(days=7)
    _check_range(start, end)
    with session_scope(sessions) as session:
        report = compute_agent_performance(session, since=start, until=end, period=period, agent_id=agent_id,
                                           timezone=settings.report_timezone, quality=quality_scores)
    if format == "csv":
        name = f"agents_{start:%Y%m%d}_{end:%Y%m%d}_{period}.csv"
        return Response("\ufeff" + to_csv(report), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return report


def _check_range(start: datetime, end: datetime) -> None:
    if end <= start:
        raise InvalidRange("until must be after since", message_zh="结束时间必须晚于开始时间。")
    if end - start > MAX_RANGE:
        raise InvalidRange("the range may cover at most 366 days", message_zh="时间范围最长为 366 天。")


@router.get("/metrics", include_in_schema=False)
def metrics(
    _reader: Annotated[Principal | None, Depends(metrics_reader)],
    registry: MetricsDep,
) -> Response:
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
