"""Risk alerts for the supervisor dashboard."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from router.alerts.models import Alert
from router.api.deps import AlertsDep
from router.auth import CurrentSupervisor
from router.clock import aware

DbId = Annotated[int, Path(ge=1, le=2**62, description="row id")]  # larger ints cannot name a row
router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])


class AlertOut(BaseModel):
    id: int
    signal: Literal["angry", "topic", "queue_wait"]
    key: str
    severity: Literal["warning", "critical"]
    message: str
    value: float
    baseline: float
    threshold: float
    window_start: datetime
    window_end: datetime
    status: Literal["open", "acknowledged", "resolved"]
    acknowledged_by: int | None
    webhook_status: str | None
    webhook_error: str | None
    details: dict[str, Any]
    created_at: datetime


class AlertStatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["acknowledged", "resolved"]


def alert_out(alert: Alert) -> AlertOut:
    return AlertOut(
        id=alert.id,
        signal=alert.signal,  # type: ignore[arg-type]
        key=alert.key,
        severity=alert.severity,  # type: ignore[arg-type]
        message=alert.message,
        value=alert.value,
        baseline=alert.baseline,
        threshold=alert.threshold,
        window_start=aware(alert.window_start),
        window_end=aware(alert.window_end),
        status=alert.status,  # type: ignore[arg-type]
        acknowledged_by=alert.acknowledged_by,
        webhook_status=alert.webhook_status,
        webhook_error=alert.webhook_error,
        details=dict(alert.details or {}),
        created_at=aware(alert.created_at),
    )


@router.get("", response_model=list[AlertOut], summary="Stored alerts, newest first")
def list_alerts(
    service: AlertsDep,
    _user: CurrentSupervisor,
    status: Annotated[Literal["open", "acknowledged", "resolved"] | None, Query()] = None,
    signal: Annotated[Literal["angry", "topic", "queue_wait"] | None, Query()] = None,
    since: Annotated[datetime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AlertOut]:
    start = (since if since.tzinfo else since.replace(tzinfo=UTC)) if since else None
    return [alert_out(a) for a in service.list_alerts(status=status, since=start, signal=signal, limit=limit)]


@router.post("/evaluate", response_model=list[AlertOut], summary="Run the detector now; returns new alerts")
async def evaluate(service: AlertsDep, _user: CurrentSupervisor) -> list[AlertOut]:
    created = await run_in_threadpool(service.evaluate)
    return [alert_out(a) for a in created]


@router.post("/{alert_id}/status", response_model=AlertOut, summary="Acknowledge or resolve an alert")
def set_status(alert_id: DbId, body: AlertStatusIn, service: AlertsDep, user: CurrentSupervisor) -> AlertOut:
    return alert_out(service.set_status(alert_id, status=body.status, user_id=user.id))
