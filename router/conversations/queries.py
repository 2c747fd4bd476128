"""Reads of the conversation tables that more than one domain needs (the gateway, tickets)."""

from __future__ import annotations

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from router.conversations.models import Message


def recent_scored_feelings(
    session: Session, *, conversation_id: str, limit: int
) -> list[Row[str | None, float | None, float | None]]:
    """Sentiment (label, score, anger) of the shopper's last ``limit`` scored messages, oldest first."""
    rows = session.execute(
        select(Message.sentiment_label, Message.sentiment_score, Message.anger)
        .where(
            Message.conversation_id == conversation_id,
            Message.direction == "in",
            Message.sentiment_label.is_not(None),
        )
        .order_by(Message.id.desc())
        .limit(limit)
    ).all()
    return list(reversed(rows))
