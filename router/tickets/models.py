"""Ticket tables: a ticket, and the history of every change made to it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from router.clock import utcnow
from router.db import Base

AUTO_SOURCES = "source IN ('unresolved', 'leave_message')"


class Ticket(Base):
    """Work that outlives a chat: a message left while nobody was online, an unresolved conversation, an agent's note.

    ``ref`` is the number the shopper is told (e.g. ``T2026112400042``); ``id`` is the database key.
    SLA due times are absolute; time spent waiting on the customer pushes ``resolution_due_at`` back.
    """

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_status_priority", "status", "priority"),
        Index("ix_tickets_assignee_status", "assignee_id", "status"),
        # one automatic ticket per conversation, however many sweeps or replicas race (migration 0006)
        Index(
            "uq_tickets_auto_per_conversation", "conversation_id", unique=True,
            sqlite_where=text(AUTO_SOURCES), postgresql_where=text(AUTO_SOURCES),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ref: Mapped[str | None] = mapped_column(String(24), unique=True)
    source: Mapped[str] = mapped_column(String(24))  # leave_message | unresolved | agent
    conversation_id: Mapped[str | None] = mapped_column(String(32), index=True)
    customer_id: Mapped[str | None] = mapped_column(String(128), index=True)
    channel: Mapped[str | None] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(32))  # a routing skill: after_sales | logistics | billing | ...
    topic: Mapped[str | None] = mapped_column(String(64))  # FAQ topic id when known, e.g. package_lost
    priority: Mapped[int] = mapped_column(Integer, default=0)  # 0-10
    status: Mapped[str] = mapped_column(String(24), default="new")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    vip: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    first_response_due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolution_due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    first_responded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    waiting_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_response_breached: Mapped[bool] = mapped_column(Boolean, default=False)
    resolution_breached: Mapped[bool] = mapped_column(Boolean, default=False)


class TicketEvent(Base):
    """One change to a ticket (created, assigned, status, priority, category, comment, sla_breached, ...)."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    type: Mapped[str] = mapped_column(String(24))
    actor_id: Mapped[int | None] = mapped_column(Integer)  # None: the system
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
