"""Canned replies over SQL: who may use, add, change and remove which snippet.

Everyone sees their own personal snippets and the team snippets of their skill groups; supervisors see every team's.
Agents manage their personal snippets; team snippets are managed by supervisors.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from router.canned.errors import CannedForbidden, CannedNotFound, DuplicateShortcut, InvalidCanned
from router.canned.models import CannedReply
from router.clock import utcnow
from router.db import session_scope
from router.staff_scope import StaffScope


def may_use(who: StaffScope, row: CannedReply) -> bool:
    if row.scope == "personal":
        return row.owner_id == who.id
    return who.supervising or row.skill in who.skills


def may_manage(who: StaffScope, row: CannedReply) -> bool:
    return row.owner_id == who.id if row.scope == "personal" else who.supervising


class CannedService:
    def __init__(self, sessions: sessionmaker[Session], *, clock: Callable[[], datetime] = utcnow) -> None:
        self.sessions = sessions
        self.clock = clock

    def usable(self, who: StaffScope) -> list[CannedReply]:
        """The caller's snippets: personal first, then their teams', each by shortcut."""
        with session_scope(self.sessions) as s:
            team = CannedReply.scope == "team"
            if not who.supervising:
                team = team & CannedReply.skill.in_(sorted(who.skills))
            rows = s.scalars(
                select(CannedReply)
                .where(or_((CannedReply.scope == "personal") & (CannedReply.owner_id == who.id), team))
                .order_by(CannedReply.scope, CannedReply.shortcut, CannedReply.id)  # "personal" < "team"
            ).all()
            s.expunge_all()
            return list(rows)

    def create(
        self, who: StaffScope, *, scope: str, skill: str | None, shortcut: str, title: str, text: str
    ) -> CannedReply:
        if scope == "team":
            if skill is None:
                raise InvalidCanned("a team snippet needs its skill group")
            if not who.supervising:
                raise CannedForbidden("only a supervisor may add team snippets")
        elif skill is not None:
            raise InvalidCanned("a personal snippet belongs to no skill group")
        now = self.clock()
        row = CannedReply(
            scope=scope,
            skill=skill if scope == "team" else None,
            owner_id=who.id if scope == "personal" else None,
            shortcut=shortcut,
            title=title,
            text=text,
            created_by=who.id,
            created_at=now,
            updated_at=now,
        )
        with session_scope(self.sessions) as s:
            self._unique(s, row, shortcut)
            s.add(row)
            s.flush()
            s.expunge(row)
        return row

    def update(
        self, who: StaffScope, canned_id: int, *, shortcut: str | None, title: str | None, text: str | None
    ) -> CannedReply:
        with session_scope(self.sessions) as s:
            row = self._managed(s, who, canned_id)
            if shortcut is not None and shortcut != row.shortcut:
                self._unique(s, row, shortcut)
                row.shortcut = shortcut
            row.title = title if title is not None else row.title
            row.text = text if text is not None else row.text
            row.updated_at = self.clock()
            s.flush()
            s.expunge(row)
            return row

    def delete(self, who: StaffScope, canned_id: int) -> None:
        with session_scope(self.sessions) as s:
            s.delete(self._managed(s, who, canned_id))

    def _managed(self, s: Session, who: StaffScope, canned_id: int) -> CannedReply:
        row = s.get(CannedReply, canned_id) if 0 < canned_id < 2**62 else None
        if row is None or not may_use(who, row):
            raise CannedNotFound(canned_id)  # another agent's snippet: not confirmed to exist
        if not may_manage(who, row):
            raise CannedForbidden("only a supervisor may change team snippets")
        return row

    def _unique(self, s: Session, row: CannedReply, shortcut: str) -> None:
        same = select(CannedReply.id).where(
            CannedReply.scope == row.scope,
            CannedReply.shortcut == shortcut,
            CannedReply.owner_id == row.owner_id if row.scope == "personal" else CannedReply.skill == row.skill,
        )
        if row.id is not None:
            same = same.where(CannedReply.id != row.id)
        if s.scalar(same.limit(1)) is not None:
            raise DuplicateShortcut(shortcut)
