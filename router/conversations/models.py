"""Conversation tables: customers and their channel identities, conversations, messages, events, surveys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from router.clock import utcnow
from router.db import Base


def new_id() -> str:
    return uuid.uuid4().hex


class Customer(Base):
    """A shopper, one row across every channel."""

    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(128))
    vip: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CustomerIdentity(Base):
    """A channel-specific identity (e.g. a mini-program openid) linked to one customer."""

    __tablename__ = "customer_identities"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_identity_channel_external"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Conversation(Base):
    """One service conversation; ``owner`` says who may answer: the bot, the queue (nobody yet) or one agent."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_customer_status", "customer_id", "status"),
        # one open conversation per customer, whichever replica the messages reach (migration 0006)
        Index(
            "uq_conversations_one_open", "customer_id", unique=True,
            sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    first_channel: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str] = mapped_column(String(8), default="bot")  # bot | queue | agent
    status: Mapped[str] = mapped_column(String(8), default="open")  # open | closed
    agent_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    required_skill: Mapped[str | None] = mapped_column(String(32))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    handoff_reason: Mapped[str | None] = mapped_column(String(32))
    resolution: Mapped[str | None] = mapped_column(String(16))  # bot | agent | abandoned | ticket
    consecutive_fallbacks: Mapped[int] = mapped_column(Integer, default=0)
    survey_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    handed_off_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_agent_reply_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Message(Base):
    """Every message in or out, stored once (``client_msg_id`` makes retries idempotent)."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("customer_id", "client_msg_id", name="uq_message_client_id"),
        Index("ix_messages_conversation_seq", "conversation_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"))
    customer_id: Mapped[str] = mapped_column(String(128), index=True)
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    sender: Mapped[str] = mapped_column(String(8))  # customer | bot | agent | system
    channel: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text, default="")
    buttons: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    agent_id: Mapped[int | None] = mapped_column(Integer)
    client_msg_id: Mapped[str | None] = mapped_column(String(64))
    sentiment_label: Mapped[str | None] = mapped_column(String(8))
    sentiment_score: Mapped[float | None] = mapped_column(Float)
    anger: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class ConversationEvent(Base):
    """What happened in a conversation (the KPIs are computed from these rows)."""

    __tablename__ = "conversation_events"
    __table_args__ = (Index("ix_events_type_time", "type", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Survey(Base):
    """Satisfaction (CSAT 1-5 and a comment) for one conversation."""

    __tablename__ = "surveys"

    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(128))
    agent_id: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
