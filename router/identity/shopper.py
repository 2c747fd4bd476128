"""Shopper-facing reads and writes with the ownership check inside (state, history, survey, leave).

Every function takes the authenticated :class:`~router.identity.service.Shopper` and checks, in the transaction that
reads or changes the row, that the conversation or customer is theirs; otherwise :class:`NotYours` (HTTP 404).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from router.conversations.models import Conversation, Message
from router.db import session_scope
from router.gateway.errors import ConversationNotFound
from router.gateway.schemas import Button, HistoryMessage, Reply
from router.gateway.service import GatewayService
from router.identity.errors import NotYours
from router.identity.service import Shopper


def history(gateway: GatewayService, *, shopper: Shopper, conversation_id: str, limit: int) -> list[HistoryMessage]:
    """The customer's recent messages across channels, for the owner of ``conversation_id`` only."""
    with session_scope(gateway.sessions) as session:
        conv = session.get(Conversation, conversation_id)
        if conv is None or not shopper.owns(conv.customer_id):
            raise NotYours("conversation")
        rows = session.scalars(
            select(Message).where(Message.customer_id == conv.customer_id).order_by(Message.id.desc()).limit(limit)
        ).all()
        return [_history_row(m) for m in reversed(rows)]


def _history_row(m: Message) -> HistoryMessage:
    return HistoryMessage(
        id=m.id,
        conversation_id=m.conversation_id,
        direction="in" if m.direction == "in" else "out",
        sender=m.sender,
        channel=m.channel,
        text=m.text,
        buttons=[Button(**b) for b in (m.buttons or [])],
        sentiment_label=m.sentiment_label,
        sentiment_score=m.sentiment_score,
        created_at=m.created_at.isoformat(),
    )


def customer_state(gateway: GatewayService, *, shopper: Shopper, customer_id: str) -> dict[str, Any]:
    """Where the shopper's current conversation stands (owner, queue place, survey pending). Blocking: call it from
    a worker thread."""
    if not shopper.owns(customer_id):
        raise NotYours("customer")
    with session_scope(gateway.sessions) as session:
        conv = session.scalar(
            select(Conversation).where(Conversation.customer_id == customer_id).order_by(Conversation.created_at.desc())
        )
        if conv is None:
            return {"conversation_id": None, "owner": "bot", "status": None, "survey_pending": False, "queue": None}
        conv_id, owner = conv.id, conv.owner
    status = gateway.queue.queue_status(conv_id) if owner == "queue" else None
    with session_scope(gateway.sessions) as session:
        conv = session.get(Conversation, conv_id)
        if conv is None:  # erased in between
            raise NotYours("customer")
        return {
            "conversation_id": conv.id,
            "owner": conv.owner,
            "status": conv.status,
            "survey_pending": conv.survey_pending,
            "queue": {"position": status.position, "eta_s": status.eta_s} if status else None,
        }


async def submit_survey(
    gateway: GatewayService, *, shopper: Shopper, conversation_id: str, rating: int, comment: str | None
) -> list[Reply]:
    """The widget's stars: the thank-you replies (also pushed to every open window of the shopper)."""
    replies = await gateway.submit_survey(
        conversation_id=conversation_id, rating=rating, comment=comment, owned_by=shopper.owns
    )
    if replies is None:
        raise NotYours("conversation")
    return replies


async def leave(gateway: GatewayService, *, shopper: Shopper, conversation_id: str) -> bool:
    try:
        return await gateway.shopper_left(conversation_id=conversation_id, owned_by=shopper.owns)
    except ConversationNotFound as exc:
        raise NotYours("conversation") from exc
