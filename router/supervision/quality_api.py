"""Quality inspection API (``/api/v1/quality``): rubric and settings, the daily review queue, reviews, and the
agents' own reviews with appeals."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from router.api.deps import SessionsDep, SettingsDep
from router.auth import CurrentAgent, CurrentSupervisor
from router.supervision.quality import (
    AppealIn,
    QualitySettingsIn,
    ReviewIn,
    ReviewOut,
    RubricItemIn,
    appeal,
    build_queue,
    complete_review,
    list_reviews,
    rubric,
    save_settings,
    set_rubric,
    settings_of,
)

router = APIRouter(prefix="/api/v1/quality", tags=["quality"])
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]  # database integer ids (a larger number would overflow SQLite)


class RubricItemOut(BaseModel):
    key: str
    label: str
    weight: int
    auto: str | None


@router.get("/rubric", response_model=list[RubricItemOut], summary="The active rubric (items and weights)")
def get_rubric(user: CurrentAgent, sessions: SessionsDep) -> list[RubricItemOut]:
    with sessions() as s, s.begin():
        return [RubricItemOut(key=r.key, label=r.label, weight=r.weight, auto=r.auto) for r in rubric(s) if r.active]


@router.put("/rubric", response_model=list[RubricItemOut], summary="Replace the rubric")
def put_rubric(items: list[RubricItemIn], user: CurrentSupervisor, sessions: SessionsDep) -> list[RubricItemOut]:
    set_rubric(sessions=sessions, actor_id=user.id, items=items)
    return get_rubric(user, sessions)


@router.get("/settings", summary="Sample rate, forbidden phrases, greeting phrases, silence limit, response target")
def get_settings(user: CurrentSupervisor, sessions: SessionsDep) -> dict[str, Any]:
    with sessions() as s:
        return settings_of(s)


@router.put("/settings", summary="Change the quality settings")
def put_settings(body: QualitySettingsIn, user: CurrentSupervisor, sessions: SessionsDep) -> dict[str, Any]:
    return save_settings(sessions=sessions, actor_id=user.id, body=body)


@router.get("/reviews", response_model=list[ReviewOut],
            summary="The review queue (today's is built on the first read; pass day= for another day)")
def reviews(
    user: CurrentSupervisor, sessions: SessionsDep, settings: SettingsDep,
    status: Annotated[Literal["pending", "completed", "appealed"] | None, Query()] = None,
    agent_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    day: Annotated[date | None, Query(description="build the queue of this local day first (default: today)")] = None,
) -> list[ReviewOut]:
    local_day = day or datetime.now(ZoneInfo(settings.report_timezone)).date()
    build_queue(sessions=sessions, day=local_day, timezone=settings.report_timezone,
                queue_sla_s=settings.service_level_s)
    return list_reviews(sessions=sessions, status=status, agent_id=agent_id)


@router.post("/reviews/{review_id}", response_model=ReviewOut, summary="Score a review (or answer an appeal)")
def review(review_id: RowId, body: ReviewIn, user: CurrentSupervisor, sessions: SessionsDep) -> ReviewOut:
    return complete_review(sessions=sessions, reviewer_id=user.id, review_id=review_id, body=body)


@router.get("/my-reviews", response_model=list[ReviewOut], summary="The calling agent's completed reviews")
def my_reviews(user: CurrentAgent, sessions: SessionsDep) -> list[ReviewOut]:
    return [r for r in list_reviews(sessions=sessions, agent_id=user.id) if r.status != "pending"]


@router.post("/my-reviews/{review_id}/appeal", response_model=ReviewOut, summary="Appeal a review (once)")
def appeal_review(review_id: RowId, body: AppealIn, user: CurrentAgent, sessions: SessionsDep) -> ReviewOut:
    return appeal(sessions=sessions, agent_id=user.id, review_id=review_id, text=body.text)
