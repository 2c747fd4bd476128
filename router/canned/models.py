"""The canned-replies table (migration 0011)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from router.clock import utcnow
from router.db import Base


class CannedReply(Base):
    """A snippet: ``team`` ones belong to a skill group (managed by supervisors), ``personal`` ones to one agent.

    ``shortcut`` is what the agent types after ``/`` (e.g. ``tk`` for 退款); it is unique within its group or owner
    (checked by the service)."""

    __tablename__ = "canned_replies"
    __table_args__ = (Index("ix_canned_replies_scope_skill", "scope", "skill"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(8))  # team | personal
    skill: Mapped[str | None] = mapped_column(String(32))  # team snippets: the skill group
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)  # personal ones
    shortcut: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(60))
    text: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
