"""Tables of the supervisor's workbench: working hours per skill group, the audit trail of supervisor actions and
agents' status changes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from router.db import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


class SkillHours(Base):
    """When a skill group is staffed (local time of ``KEFU_ROUTER_REPORT_TIMEZONE``); no row = always open."""

    __tablename__ = "skill_hours"

    skill: Mapped[str] = mapped_column(String(32), primary_key=True)
    days: Mapped[list[int]] = mapped_column(JSON, nullable=False)  # 0 = Monday ... 6 = Sunday
    opens: Mapped[str] = mapped_column(String(5), nullable=False)  # "09:00"
    closes: Mapped[str] = mapped_column(String(5), nullable=False)  # "21:00" (exclusive)
    updated_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEntry(Base):
    """One supervisor or admin action (team change, whisper, barge-in, re-route, review), never edited."""

    __tablename__ = "supervision_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    actor_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    target: Mapped[str] = mapped_column(String(64), nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class AgentStatusChange(Base):
    """An agent went online, away or offline (Unix seconds, the routing clock): occupancy needs the time online."""

    __tablename__ = "agent_status_changes"
    __table_args__ = (Index("ix_agent_status_changes_agent_at", "agent_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent_id: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    at: Mapped[float] = mapped_column(Float, nullable=False)
