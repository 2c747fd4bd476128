"""Tables of the supervisor's workbench: working hours per skill group, the audit trail of supervisor actions and
agents' status changes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from router.clock import utcnow
from router.db import Base


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


class QaRubricItem(Base):
    """One item of the quality rubric; ``auto`` names the objective check that pre-scores it (or None)."""

    __tablename__ = "qa_rubric_items"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    label: Mapped[str] = mapped_column(String(64), nullable=False)
    weight: Mapped[int] = mapped_column(Integer, nullable=False)
    auto: Mapped[str | None] = mapped_column(String(32), nullable=True)  # greeting | first_response | forbidden
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)


class QaSetting(Base):
    """Quality settings by name (sample rate, forbidden phrases, silence, greeting phrases, response target)."""

    __tablename__ = "qa_settings"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=False)


class QaReview(Base):
    """A conversation to review for one agent: why (sampled / flags), automatic pre-scores, the reviewer's scores,
    the agent's appeal.  status: pending -> completed -> appealed -> completed (appeal answered)."""

    __tablename__ = "qa_reviews"
    __table_args__ = (UniqueConstraint("conversation_id", "agent_id", name="uq_qa_review_conversation_agent"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    agent_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    day: Mapped[str] = mapped_column(String(10), nullable=False, index=True)  # local date the conversation ended
    reason: Mapped[str] = mapped_column(String(16), nullable=False)  # flagged | sampled
    flags: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    pre_scores: Mapped[dict[str, float]] = mapped_column(JSON, nullable=False, default=dict)
    scores: Mapped[dict[str, float] | None] = mapped_column(JSON, nullable=True)
    total: Mapped[float | None] = mapped_column(Float, nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    reviewer_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    appeal_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    appeal_reply: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
