"""Team set-up API for supervisors and admins (``/api/v1/team``); every change is audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel
from sqlalchemy import select

from router.api.deps import EngineDep, SessionsDep
from router.auth import CurrentSupervisor
from router.routing.models import KNOWN_SKILLS
from router.supervision.models import AuditEntry
from router.supervision.team import (
    Hours,
    HoursIn,
    Member,
    MemberIn,
    MemberPatch,
    PasswordIn,
    create_member,
    get_member,
    list_hours,
    list_members,
    reset_password,
    set_hours,
    update_member,
)

router = APIRouter(prefix="/api/v1/team", tags=["team"])
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]  # database integer ids (a larger number would overflow SQLite)


@router.get("/members", response_model=list[Member], summary="Every account with its routing profile and live load")
def members(user: CurrentSupervisor, sessions: SessionsDep, engine: EngineDep) -> list[Member]:
    return list_members(sessions=sessions, engine=engine)


@router.post("/members", response_model=Member, status_code=201, summary="Create an account (agents route at once)")
def create(body: MemberIn, user: CurrentSupervisor, sessions: SessionsDep, engine: EngineDep) -> Member:
    return create_member(sessions=sessions, engine=engine, actor_id=user.id, actor_role=user.role, body=body)


@router.get("/members/{user_id}", response_model=Member, summary="One account")
def member(user_id: RowId, user: CurrentSupervisor, sessions: SessionsDep, engine: EngineDep) -> Member:
    return get_member(sessions=sessions, engine=engine, user_id=user_id)


@router.patch("/members/{user_id}", response_model=Member,
              summary="Change name, role, skills, languages, capacity, or disable / enable")
def update(user_id: RowId, body: MemberPatch, user: CurrentSupervisor, sessions: SessionsDep,
           engine: EngineDep) -> Member:
    return update_member(sessions=sessions, engine=engine, actor_id=user.id, actor_role=user.role, user_id=user_id,
                         body=body)


@router.post("/members/{user_id}/password", status_code=204, summary="Set a new password")
def password(user_id: RowId, body: PasswordIn, user: CurrentSupervisor, sessions: SessionsDep) -> Response:
    reset_password(sessions=sessions, actor_id=user.id, actor_role=user.role, user_id=user_id,
                   password=body.password)
    return Response(status_code=204)


@router.get("/skills", summary="The skill groups")
def skills(user: CurrentSupervisor) -> list[str]:
    return list(KNOWN_SKILLS)


@router.get("/hours", response_model=list[Hours], summary="Working hours per skill group (none: always open)")
def hours(user: CurrentSupervisor, sessions: SessionsDep) -> list[Hours]:
    return list_hours(sessions=sessions)


@router.put("/hours/{skill}", response_model=Hours, summary="Set a skill group's working hours")
def put_hours(skill: str, body: HoursIn, user: CurrentSupervisor, sessions: SessionsDep) -> Hours | None:
    return set_hours(sessions=sessions, actor_id=user.id, skill=skill, body=body)


@router.delete("/hours/{skill}", status_code=204, summary="Remove a skill group's hours (always open)")
def delete_hours(skill: str, user: CurrentSupervisor, sessions: SessionsDep) -> Response:
    set_hours(sessions=sessions, actor_id=user.id, skill=skill, body=None)
    return Response(status_code=204)


class AuditOut(BaseModel):
    id: int
    actor_id: int
    action: str
    target: str
    data: dict[str, object]
    created_at: str


@router.get("/audit", response_model=list[AuditOut], summary="What supervisors and admins did, newest first")
def audit_log(user: CurrentSupervisor, sessions: SessionsDep,
              limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[AuditOut]:
    with sessions() as s:
        rows = s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)).all()
        return [AuditOut(id=r.id, actor_id=r.actor_id, action=r.action, target=r.target, data=dict(r.data or {}),
                         created_at=r.created_at.isoformat()) for r in rows]
