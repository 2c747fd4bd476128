"""Bot conversations nobody touched for a while end, as resolved by the bot (containment counts them) or, after an
unanswered handoff, as abandoned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from router.clock import utcnow
from router.conversations.models import Conversation
from router.db import session_scope
from router.gateway import repository
from router.gateway.delivery import Delivery
from router.gateway.messages import record_event


def idle_resolution(conv: Conversation) -> str:
    return "bot" if conv.handed_off_at is None else "abandoned"


def close_idle_bot_conversations(
    sessions: sessionmaker[Session], delivery: Delivery, *, idle_s: float, now: datetime | None = None
) -> int:
    """Close the bot conversations idle for ``idle_s``; how many were closed."""
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=idle_s)
    with session_scope(sessions) as session:
        rows = repository.idle_bot_conversations(session, before=cutoff)
        for conv in rows:
            conv.status, conv.closed_at = "closed", utcnow()
            conv.resolution = idle_resolution(conv)
            record_event(session, conv, "closed", by="idle")
            delivery.notify(session, conv, "conversation_closed", by="idle")
        return len(rows)
