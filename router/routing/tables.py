"""SQLAlchemy tables of users/agents, hand-offs (queue entries), offers and assignments.

Times are float Unix seconds, the engine's clock unit. Partial unique indexes make the database itself refuse two
live hand-offs, two pending offers or two open assignments for one conversation, whatever the replicas do.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from router.db import Base


class User(Base):
    """A person who logs in: role agent | content | supervisor | admin; agent fields are used by the router."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    display_name: Mapped[str] = mapped_column(String(128), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(256), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False, default="agent")
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    languages: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=lambda: ["zh"])
    skills: Mapped[dict[str, int]] = mapped_column(JSON, nullable=False, default=dict)
    capacity: Mapped[dict[str, int]] = mapped_column(JSON, nullable=False, default=lambda: {"chat": 3})
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="offline")
    last_assigned_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)


class Handoff(Base):
    """One hand-off of a conversation to humans: the queue entry and its fate."""

    __tablename__ = "handoffs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    customer_id: Mapped[str] = mapped_column(String(64), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    skill: Mapped[str] = mapped_column(String(32), nullable=False)
    language: Mapped[str] = mapped_column(String(8), nullable=False, default="zh")
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    enqueued_at: Mapped[float] = mapped_column(Float, nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    reason: Mapped[str] = mapped_column(String(32), nullable=False, default="request_human")
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    target_agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    transferred_from: Mapped[str | None] = mapped_column(ForeignKey("handoffs.id"), nullable=True)
    excluded: Mapped[dict[str, float]] = mapped_column(JSON, nullable=False, default=dict)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    ended_at: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (
        Index(
            "uq_handoffs_live_conversation",
            "conversation_id",
            unique=True,
            sqlite_where=text("state IN ('waiting', 'offered', 'assigned')"),
            postgresql_where=text("state IN ('waiting', 'offered', 'assigned')"),
        ),
    )


class OfferRow(Base):
    __tablename__ = "offers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    handoff_id: Mapped[str] = mapped_column(ForeignKey("handoffs.id"), nullable=False, index=True)
    conversation_id: Mapped[str] = mapped_column(String(64), nullable=False)
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)
    deadline: Mapped[float] = mapped_column(Float, nullable=False)
    decided_at: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (
        Index(
            "uq_offers_pending_handoff",
            "handoff_id",
            unique=True,
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
    )


class Assignment(Base):
    """An agent holding a conversation, from accept to close / transfer / abandon."""

    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    handoff_id: Mapped[str] = mapped_column(ForeignKey("handoffs.id"), nullable=False, index=True)
    conversation_id: Mapped[str] = mapped_column(String(64), nullable=False)
    agent_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    offer_id: Mapped[str | None] = mapped_column(ForeignKey("offers.id"), nullable=True)
    started_at: Mapped[float] = mapped_column(Float, nullable=False)
    ended_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)

    __table_args__ = (
        Index(
            "uq_assignments_open_conversation",
            "conversation_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )
