"""What a logged-in staff member may see beyond their own objects: their skill groups (teams), or everything when they
supervise. Read from the users table on each request, so a supervisor's change of skills applies at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from router.auth import CurrentAgent, Principal
from router.routing.tables import User

SUPERVISING = ("supervisor", "admin")


@dataclass(frozen=True)
class StaffScope:
    id: int
    role: str
    skills: frozenset[str]  # the skill groups (teams) the member belongs to: proficiency above 0

    @property
    def supervising(self) -> bool:
        return self.role in SUPERVISING


def load_scope(sessions: sessionmaker[Session], principal: Principal) -> StaffScope:
    with sessions() as session:
        row = session.get(User, principal.id)
        skills = frozenset(k for k, v in ((row.skills or {}) if row else {}).items() if int(v) > 0)
    return StaffScope(id=principal.id, role=principal.role, skills=skills)


def current_scope(request: Request, user: CurrentAgent) -> StaffScope:
    """The calling agent or supervisor with their skill groups (the route stays guarded by ``CurrentAgent``)."""
    return load_scope(request.app.state.sessions, user)


AgentScope = Annotated[StaffScope, Depends(current_scope)]
