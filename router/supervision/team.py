"""Team set-up: agents (create, disable, roles, skills with proficiency, languages, capacity), password resets and
working hours per skill group.

Every change is written to the database first and then given to the routing engine through its public methods
(``reload_agent`` / ``set_status``), so it takes effect at once without a restart, and on a clustered engine the
change is put on the change log for the other replicas.  Disabling is the exception: the agent is set offline in
the engine *before* the row becomes inactive, because replicas reload agents from active rows only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from router.auth import UserExists, create_user, hash_password
from router.db import session_scope
from router.reports.agents import record_status
from router.routing.errors import RoutingError, UnknownAgent
from router.routing.models import KNOWN_SKILLS, AgentStatus
from router.routing.protocol import RoutingEngineProtocol
from router.routing.store import ROUTABLE_ROLES
from router.routing.tables import User
from router.supervision.models import AuditEntry, SkillHours

Role = Literal["agent", "content", "supervisor", "admin"]
CHANNEL_RE = re.compile(r"^[a-z][a-z_]{0,15}$")
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}$")
HHMM_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class TeamError(RoutingError):
    """A team change that cannot be made (the edge answers with ``status`` and the Chinese message)."""

    status = 422
    message_zh = "操作未能完成，请检查填写的内容。"


class MemberNotFound(TeamError):
    status = 404
    message_zh = "找不到该账号。"

    def __init__(self, user_id: int) -> None:
        super().__init__(f"user {user_id} not found", user_id=user_id)


class UsernameTaken(TeamError):
    status = 409
    message_zh = "该用户名已被使用，请换一个。"

    def __init__(self, username: str) -> None:
        super().__init__(f"username {username} is taken", username=username)


class NotAllowed(TeamError):
    status = 403
    message_zh = "您无权执行此操作：主管和管理员账号只能由系统管理员设置，且不能停用自己或修改自己的角色。"


class SkillsIn(BaseModel):
    """Validation shared by create and update: known skills with proficiency 1-5, channels and languages."""

    @field_validator("skills", check_fields=False)
    @classmethod
    def _skills(cls, value: dict[str, int] | None) -> dict[str, int] | None:
        for skill, level in (value or {}).items():
            if skill not in KNOWN_SKILLS:
                raise ValueError(f"unknown skill {skill!r}; known: {', '.join(KNOWN_SKILLS)}")
            if not 1 <= level <= 5:
                raise ValueError(f"proficiency of {skill} must be 1-5")
        return value

    @field_validator("capacity", check_fields=False)
    @classmethod
    def _capacity(cls, value: dict[str, int] | None) -> dict[str, int] | None:
        for channel, n in (value or {}).items():
            if not CHANNEL_RE.match(channel) or not 0 <= n <= 20:
                raise ValueError(f"capacity of {channel!r} must be 0-20 for a lower-case channel name")
        return value

    @field_validator("languages", check_fields=False)
    @classmethod
    def _languages(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and (not value or any(not LANGUAGE_RE.match(x) for x in value)):
            raise ValueError("languages must be 1 or more codes such as zh, en")
        return value


class MemberIn(SkillsIn):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    display_name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=8, max_length=128)
    role: Role = "agent"
    skills: dict[str, int] = Field(default_factory=dict)
    languages: list[str] = Field(default_factory=lambda: ["zh"])
    capacity: dict[str, int] = Field(default_factory=lambda: {"chat": 3})


class MemberPatch(SkillsIn):
    model_config = ConfigDict(extra="forbid")
    display_name: str | None = Field(default=None, min_length=1, max_length=64)
    role: Role | None = None
    skills: dict[str, int] | None = None
    languages: list[str] | None = None
    capacity: dict[str, int] | None = None
    is_active: bool | None = None


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str = Field(min_length=8, max_length=128)


class HoursIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days: list[int] = Field(min_length=1, max_length=7)
    opens: str = Field(pattern=HHMM_RE.pattern)
    closes: str = Field(pattern=HHMM_RE.pattern)

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[int]) -> list[int]:
        if any(not 0 <= d <= 6 for d in value):
            raise ValueError("days are 0 (Monday) to 6 (Sunday)")
        return sorted(set(value))


class Member(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    is_active: bool
    skills: dict[str, int]
    languages: list[str]
    capacity: dict[str, int]
    status: str
    load: dict[str, int]


class Hours(BaseModel):
    skill: str
    days: list[int]
    opens: str
    closes: str


def audit(session: Session, *, actor_id: int, action: str, target: str, **data: Any) -> None:
    session.add(AuditEntry(actor_id=actor_id, action=action, target=target, data=data))


def _member(row: User, engine: RoutingEngineProtocol) -> Member:
    status, load = row.status, {}
    if row.is_active and row.role in ROUTABLE_ROLES:
        try:
            live = engine.get_agent(row.id)
            status, load = live.status.value, {k: v for k, v in live.load.items() if v}
        except UnknownAgent:
            pass
    return Member(
        id=row.id, username=row.username, display_name=row.display_name, role=row.role, is_active=row.is_active,
        skills=dict(row.skills or {}), languages=list(row.languages or []), capacity=dict(row.capacity or {}),
        status=status if row.is_active else "disabled", load=load,
    )


def list_members(*, sessions: sessionmaker[Session], engine: RoutingEngineProtocol) -> list[Member]:
    with sessions() as s:
        rows = list(s.scalars(select(User).order_by(User.is_active.desc(), User.role, User.username)))
    return [_member(r, engine) for r in rows]


def _check_role_change(actor_role: str, *roles: str | None) -> None:
    if actor_role != "admin" and any(r in ("supervisor", "admin") for r in roles if r):
        raise NotAllowed("only an admin may create or change supervisors and admins")


def create_member(
    *, sessions: sessionmaker[Session], engine: RoutingEngineProtocol, actor_id: int, actor_role: str, body: MemberIn
) -> Member:
    """Create an account; an agent (or supervisor) is in the routing engine at once, offline until they go online."""
    _check_role_change(actor_role, body.role)
    try:
        user_id = create_user(
            sessions, username=body.username, password=body.password, display_name=body.display_name,
            role=body.role, skills=body.skills, languages=body.languages, capacity=body.capacity,
        )
    except UserExists as exc:
        raise UsernameTaken(body.username) from exc
    with session_scope(sessions) as s:
        audit(s, actor_id=actor_id, action="member_created", target=str(user_id), username=body.username,
              role=body.role, skills=body.skills, capacity=body.capacity, languages=body.languages)
    if body.role in ROUTABLE_ROLES:
        engine.reload_agent(user_id)
    return get_member(sessions=sessions, engine=engine, user_id=user_id)


def get_member(*, sessions: sessionmaker[Session], engine: RoutingEngineProtocol, user_id: int) -> Member:
    with sessions() as s:
        row = s.get(User, user_id)
        if row is None:
            raise MemberNotFound(user_id)
        return _member(row, engine)


def update_member(
    *, sessions: sessionmaker[Session], engine: RoutingEngineProtocol, actor_id: int, actor_role: str, user_id: int,
    body: MemberPatch,
) -> Member:
    """Change a profile; routing uses the new skills / capacity / languages for the next decision."""
    changes = body.model_dump(exclude_none=True)
    with sessions() as s:
        row = s.get(User, user_id)
        if row is None:
            raise MemberNotFound(user_id)
        old_role, was_active = row.role, row.is_active
    _check_role_change(actor_role, old_role, body.role)
    if actor_id == user_id and (body.is_active is False or body.role not in (None, old_role)):
        raise NotAllowed("you may not disable yourself or change your own role")
    was_routable = was_active and old_role in ROUTABLE_ROLES
    routable = (was_active if body.is_active is None else body.is_active) and (body.role or old_role) in ROUTABLE_ROLES
    if was_routable and not routable:
        _take_offline(engine, user_id)  # before the row leaves the routable set (replicas reload active rows only)
        with session_scope(sessions) as s:
            record_status(s, agent_id=user_id, status="offline", at=engine.clock())
    with session_scope(sessions) as s:
        row = s.get(User, user_id)
        assert row is not None
        for key, value in changes.items():
            setattr(row, key, value)
        audit(s, actor_id=actor_id, action="member_updated", target=str(user_id), changes=changes)
    if routable:
        engine.reload_agent(user_id)
    return get_member(sessions=sessions, engine=engine, user_id=user_id)


def _take_offline(engine: RoutingEngineProtocol, user_id: int) -> None:
    """Offline in the engine: pending offers go to others; conversations already held stay until closed."""
    try:
        engine.get_agent(user_id)
    except UnknownAgent:
        return
    engine.set_status(user_id, AgentStatus.offline)


def reset_password(
    *, sessions: sessionmaker[Session], actor_id: int, actor_role: str, user_id: int, password: str
) -> None:
    with session_scope(sessions) as s:
        row = s.get(User, user_id)
        if row is None:
            raise MemberNotFound(user_id)
        _check_role_change(actor_role, row.role)
        row.password_hash = hash_password(password)
        audit(s, actor_id=actor_id, action="password_reset", target=str(user_id))


# ------------------------------------------------------------------ working hours per skill group
def list_hours(*, sessions: sessionmaker[Session]) -> list[Hours]:
    with sessions() as s:
        rows = list(s.scalars(select(SkillHours).order_by(SkillHours.skill)))
    return [Hours(skill=r.skill, days=list(r.days), opens=r.opens, closes=r.closes) for r in rows]


def set_hours(*, sessions: sessionmaker[Session], actor_id: int, skill: str, body: HoursIn | None) -> Hours | None:
    """Set (or with ``None`` remove: always open) the hours of a skill group."""
    if skill not in KNOWN_SKILLS:
        raise TeamError(f"unknown skill {skill}", skill=skill)
    if body is not None and body.opens == body.closes:
        raise TeamError("opening and closing time must differ")
    with session_scope(sessions) as s:
        row = s.get(SkillHours, skill)
        if body is None:
            if row is not None:
                s.delete(row)
            audit(s, actor_id=actor_id, action="hours_removed", target=skill)
            return None
        if row is None:
            row = SkillHours(skill=skill, days=body.days, opens=body.opens, closes=body.closes)
            s.add(row)
        row.days, row.opens, row.closes, row.updated_by = body.days, body.opens, body.closes, actor_id
        audit(s, actor_id=actor_id, action="hours_set", target=skill, days=body.days, opens=body.opens,
              closes=body.closes)
        return Hours(skill=skill, days=body.days, opens=body.opens, closes=body.closes)


def is_open(hours: Hours | None, at: datetime, timezone: str) -> bool:
    """Whether a skill group with these hours is staffed at ``at`` (no hours: always). Overnight spans work too."""
    if hours is None:
        return True
    local = at.astimezone(ZoneInfo(timezone))
    opens, closes, now = time.fromisoformat(hours.opens), time.fromisoformat(hours.closes), local.time()
    if opens < closes:
        return local.weekday() in hours.days and opens <= now < closes
    # overnight, e.g. 20:00-02:00: the early hours belong to the previous day's shift
    if now >= opens:
        return local.weekday() in hours.days
    return now < closes and (local.weekday() - 1) % 7 in hours.days


def hours_of(*, sessions: sessionmaker[Session], skill: str) -> Hours | None:
    with sessions() as s:
        row = s.get(SkillHours, skill)
        return None if row is None else Hours(skill=row.skill, days=list(row.days), opens=row.opens, closes=row.closes)


WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


def describe_hours(hours: Hours) -> str:
    """``周一至周五 09:00-18:00`` (what the shopper is told outside the hours)."""
    days = hours.days
    if days == list(range(7)):
        label = "每天"
    elif len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
        label = f"{WEEKDAYS_ZH[days[0]]}至{WEEKDAYS_ZH[days[-1]]}"
    else:
        label = "、".join(WEEKDAYS_ZH[d] for d in days)
    return f"{label} {hours.opens}-{hours.closes}"


def closed_hours_checker(
    sessions: sessionmaker[Session], timezone: str, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> Callable[[str], str | None]:
    """For the gateway: skill -> the group's hours (for the off-hours reply) when it is closed now, else None."""

    def closed(skill: str) -> str | None:
        hours = hours_of(sessions=sessions, skill=skill)
        if hours is None or is_open(hours, clock(), timezone):
            return None
        return describe_hours(hours)

    return closed
