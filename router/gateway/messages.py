"""The conversation log as the gateway writes it: shopper messages with their sentiment, messages to the shopper,
and conversation events. Every function runs inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from router.clock import utcnow
from router.conversations.models import Conversation, ConversationEvent, Message
from router.gateway.schemas import Button, InboundMessage, Reply
from router.sentiment import SentimentAnalyzer, SentimentResult


def record_event(session: Session, conv: Conversation, type_: str, **data: Any) -> None:
    session.add(ConversationEvent(conversation_id=conv.id, type=type_, channel=conv.channel, data=data))


def reply_of(msg: Message) -> Reply:
    """A stored message to the shopper as the wire shows it."""
    return Reply(
        id=msg.id,
        text=msg.text,
        buttons=[Button(**b) for b in (msg.buttons or [])],
        sender="agent" if msg.sender == "agent" else ("system" if msg.sender == "system" else "bot"),
        created_at=msg.created_at.isoformat() if msg.created_at else None,
    )


def add_out(session: Session, conv: Conversation, reply: Reply, sender: str, agent_id: int | None = None) -> Message:
    """Persist one message to the shopper (flushed, so it has its id); an agent's is signed by ``agent_id``, by
    default the agent who owns the conversation."""
    msg = Message(
        conversation_id=conv.id,
        customer_id=conv.customer_id,
        direction="out",
        sender=sender if reply.sender != "system" else "system",
        channel=conv.channel,
        text=reply.text,
        buttons=[b.model_dump() for b in reply.buttons] or None,
        agent_id=(conv.agent_id if agent_id is None else agent_id) if sender == "agent" else None,
        created_at=utcnow(),
    )
    session.add(msg)
    session.flush()
    return msg


def store_out(session: Session, conv: Conversation, replies: list[Reply], sender: str) -> list[Reply]:
    """Persist ``replies`` to the shopper; the stored ones (with ids and times) come back."""
    stored = [reply_of(add_out(session, conv, reply, sender)) for reply in replies]
    conv.updated_at = utcnow()
    return stored


def system_replies(session: Session, conv: Conversation, *texts: str) -> list[Reply]:
    """Persist the gateway's own words (``sender="system"``)."""
    return store_out(session, conv, [Reply(text=text, sender="system") for text in texts], "system")


class ShopperMessages:
    """Stores shopper messages, each with a sentiment score (KPIs and agents read it)."""

    def __init__(self, sentiment: SentimentAnalyzer) -> None:
        self.sentiment = sentiment

    def store(
        self,
        session: Session,
        conversation_id: str,
        customer_id: str,
        inbound: InboundMessage,
        sentiment: SentimentResult | None = None,
    ) -> Message:
        """Persist one shopper message (flushed, so it has its id) with its sentiment.

        Survey comments and left messages come without conversation signals; they are scored here on their text
        alone, so that every stored shopper message carries a score.
        """
        if sentiment is None:
            sentiment = self.sentiment.score(inbound.text)
        msg = Message(
            conversation_id=conversation_id,
            customer_id=customer_id,
            direction="in",
            sender="customer",
            channel=inbound.channel,
            text=inbound.text,
            client_msg_id=inbound.client_msg_id,
            sentiment_label=sentiment.label,
            sentiment_score=sentiment.score,
            anger=sentiment.anger,
            created_at=utcnow(),
        )
        session.add(msg)
        session.flush()
        return msg
