"""Outbound tables: registered callback endpoints, the outbox (one row per delivery), last queue notice sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from router.clock import utcnow
from router.db import Base

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


class OutboundEndpoint(Base):
    """A shop's callback URL for one channel (``app``); the secret signs every delivery (shown once on creation)."""

    __tablename__ = "outbound_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16), unique=True)
    url: Mapped[str] = mapped_column(String(2048))
    secret: Mapped[str] = mapped_column(String(128))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OutboundMessage(Base):
    """One delivery to one shopper: written with the message it carries, delivered at least once under ``key``."""

    __tablename__ = "outbound_messages"
    __table_args__ = (
        UniqueConstraint("transport", "message_id", name="uq_outbound_transport_message"),
        Index("ix_outbound_due", "status", "next_attempt_at"),
        Index("ix_outbound_conversation", "conversation_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)  # the idempotency key the receiver sees
    conversation_id: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(16))
    transport: Mapped[str] = mapped_column(String(8))  # webhook | wechat
    endpoint_id: Mapped[int | None] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(32))
    message_id: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10), default=PENDING)  # pending | delivered | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class QueueNotice(Base):
    """The queue place last announced to a waiting shopper (a conditional update makes one replica announce it)."""

    __tablename__ = "outbound_queue_notices"

    conversation_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    eta_min: Mapped[int] = mapped_column(Integer)  # -1: unknown
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
