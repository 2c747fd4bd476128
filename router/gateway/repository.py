"""The gateway's reads, in one place: the queries its modules and its API handlers run (inside the caller's
session). Functions take keyword arguments after the session and return rows or plain values."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from router.conversations.models import Conversation, ConversationEvent, CustomerIdentity, Message
from router.gateway.errors import ConversationNotFound


def conversation(session: Session, conversation_id: str) -> Conversation:
    """The conversation, which the caller knows exists (it was written earlier in this request)."""
    conv = session.get(Conversation, conversation_id)
    if conv is None:
        raise ConversationNotFound(conversation_id=conversation_id)
    return conv


def open_conversation(session: Session, *, customer_id: str) -> Conversation | None:
    """The customer's open conversation (the newest, should a race have left two)."""
    return session.scalar(
        select(Conversation)
        .where(Conversation.customer_id == customer_id, Conversation.status == "open")
        .order_by(Conversation.created_at.desc())
    )


def has_open_conversation(session: Session, *, customer_id: str) -> bool:
    found = session.scalar(
        select(Conversation.id).where(Conversation.customer_id == customer_id, Conversation.status == "open")
    )
    return found is not None


def last_closed_conversation(session: Session, *, customer_id: str) -> Conversation | None:
    return session.scalar(
        select(Conversation)
        .where(Conversation.customer_id == customer_id, Conversation.status == "closed")
        .order_by(Conversation.closed_at.desc())
    )


def leave_message_conversation(session: Session, *, customer_id: str) -> Conversation | None:
    """The customer's open bot conversation that offered to leave a message (no agent was online)."""
    return session.scalar(
        select(Conversation).where(
            Conversation.customer_id == customer_id,
            Conversation.status == "open",
            Conversation.owner == "bot",
            Conversation.handoff_reason == "leave_message",
        )
    )


def idle_bot_conversations(session: Session, *, before: datetime) -> Sequence[Conversation]:
    """Open bot conversations nothing happened in since ``before``."""
    return session.scalars(
        select(Conversation).where(
            Conversation.status == "open", Conversation.owner == "bot", Conversation.updated_at < before
        )
    ).all()


def last_event_at(session: Session, *, conversation_id: str, type_: str) -> datetime | None:
    return session.scalar(
        select(func.max(ConversationEvent.created_at)).where(
            ConversationEvent.conversation_id == conversation_id, ConversationEvent.type == type_
        )
    )


def message_by_client_id(session: Session, *, customer_id: str, client_msg_id: str) -> Message | None:
    return session.scalar(
        select(Message).where(Message.customer_id == customer_id, Message.client_msg_id == client_msg_id)
    )


def messages_after(session: Session, *, conversation_id: str, message_id: int) -> Sequence[Message]:
    """The conversation's messages after ``message_id``, oldest first."""
    return session.scalars(
        select(Message).where(Message.conversation_id == conversation_id, Message.id > message_id).order_by(Message.id)
    ).all()


def recent_inbound_texts(session: Session, *, conversation_id: str, limit: int) -> list[str]:
    """The shopper's last ``limit`` messages, oldest first."""
    texts = session.scalars(
        select(Message.text)
        .where(Message.conversation_id == conversation_id, Message.direction == "in")
        .order_by(Message.id.desc())
        .limit(limit)
    ).all()
    return list(reversed(texts))


def recent_inbound_moods(
    session: Session, *, conversation_id: str, limit: int
) -> Sequence[Row[str, str | None, float | None, float | None]]:
    """The shopper's last ``limit`` messages (text, sentiment label, score, anger), newest first."""
    return session.execute(
        select(Message.text, Message.sentiment_label, Message.sentiment_score, Message.anger)
        .where(Message.conversation_id == conversation_id, Message.direction == "in")
        .order_by(Message.id.desc())
        .limit(limit)
    ).all()




def recent_button_sets(session: Session, *, conversation_id: str, limit: int = 5) -> Sequence[Any]:
    """The buttons of the latest bot messages that had some, newest first."""
    return session.scalars(
        select(Message.buttons)
        .where(Message.conversation_id == conversation_id, Message.direction == "out", Message.buttons.is_not(None))
        .order_by(Message.id.desc())
        .limit(limit)
    ).all()


def identity(session: Session, *, channel: str, external_id: str) -> CustomerIdentity | None:
    return session.scalar(
        select(CustomerIdentity).where(CustomerIdentity.channel == channel, CustomerIdentity.external_id == external_id)
    )
