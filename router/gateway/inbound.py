"""Persisting one inbound message, before any network call: the customer, a retried duplicate, a typed survey
rating, a left message, or a message of the customer's open conversation, stored with its sentiment."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from router import timing
from router.clock import aware, utcnow
from router.conversations.models import Conversation
from router.gateway import repository
from router.gateway.identity import resolve_customer_id
from router.gateway.left_messages import LeftMessages
from router.gateway.messages import ShopperMessages, record_event, reply_of
from router.gateway.outcome import Outcome
from router.gateway.schemas import InboundMessage
from router.gateway.surveys import Surveys
from router.gateway.transactions import Transactions
from router.sentiment import ConversationSignals, SentimentAnalyzer, SentimentResult

RACE_ANSWER_WAIT_S = 10.0  # how long the loser of a client_msg_id race waits for the winner's bot answer


@dataclass(frozen=True)
class StoredInbound:
    """A shopper message stored in her open conversation, still to be routed to its owner."""

    conversation_id: str
    owner: str  # bot | queue | agent, when the message was stored
    agent_id: int | None
    message_id: int
    sentiment: SentimentResult
    channel: str  # the conversation's channel: the message's own (a channel switch moved it)
    shown_text: str  # what the shopper saw: a clicked button's title rather than its payload


# A message is either complete once stored (a duplicate, a survey answer, a left message) or still to be routed.
Persisted = Outcome | StoredInbound


class InboundStore:
    def __init__(
        self,
        *,
        tx: Transactions,
        sentiment: SentimentAnalyzer,
        shopper_messages: ShopperMessages,
        surveys: Surveys,
        left_messages: LeftMessages,
        history_for_sentiment: int,
    ) -> None:
        self.tx = tx
        self.sentiment = sentiment
        self.shopper_messages = shopper_messages
        self.surveys = surveys
        self.left_messages = left_messages
        self.history_for_sentiment = history_for_sentiment

    def persist(self, session: Session, inbound: InboundMessage, customer_id: str) -> Persisted:
        """Store ``inbound`` (one transaction). The same ``client_msg_id`` racing in from another replica fails on
        the unique key; run by :meth:`Transactions.first_wins`, the second run answers it as a duplicate."""
        if inbound.channel != "miniprogram":
            resolve_customer_id(session, inbound.channel, customer_id)
        if inbound.client_msg_id:
            dup = duplicate(session, customer_id, inbound.client_msg_id)
            if dup is not None:
                return dup
        answered = self.surveys.answer_typed(session, inbound, customer_id)
        if answered is None:
            answered = self.left_messages.take(session, inbound, customer_id)
        if answered is not None:
            return answered

        conv = repository.open_conversation(session, customer_id=customer_id)
        if conv is None:
            conv = Conversation(customer_id=customer_id, channel=inbound.channel, first_channel=inbound.channel)
            session.add(conv)
            session.flush()
            record_event(session, conv, "conversation_started", channel=inbound.channel)
        elif conv.channel != inbound.channel:
            record_event(session, conv, "channel_switched", from_channel=conv.channel, to_channel=inbound.channel)
            conv.channel = inbound.channel

        # a clicked button arrives as its payload ("/ask_faq{...}"): store what the shopper saw and clicked
        title = button_title(session, conv.id, inbound.text)
        if title is not None:
            inbound = inbound.model_copy(update={"text": title})
        previous = repository.recent_inbound_texts(
            session, conversation_id=conv.id, limit=self.history_for_sentiment
        )
        with timing.stage("sentiment"):
            result = self.sentiment.score(
                inbound.text,
                signals=ConversationSignals(previous_texts=previous, consecutive_fallbacks=conv.consecutive_fallbacks),
            )
        msg = self.shopper_messages.store(session, conv.id, customer_id, inbound, result)
        conv.updated_at = utcnow()
        if result.label == "angry":
            record_event(session, conv, "angry_message", message_id=msg.id, anger=result.anger)
        return StoredInbound(conv.id, conv.owner, conv.agent_id, msg.id, result, conv.channel, inbound.text)

    async def winner_answer(self, inbound: InboundMessage, customer_id: str, stage: Outcome) -> Outcome:
        """The same message is being answered by another request (another replica): wait, bounded, for that
        answer so both callers get the same one."""
        if not inbound.client_msg_id:
            return stage
        client_msg_id = inbound.client_msg_id
        deadline = asyncio.get_running_loop().time() + RACE_ANSWER_WAIT_S
        while stage.pending and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
            found = await self.tx.run(lambda s: duplicate(s, customer_id, client_msg_id))
            if found is None:
                return stage
            stage = found
        return stage


def duplicate(session: Session, customer_id: str, client_msg_id: str) -> Outcome | None:
    """A retried (or raced) message: the stored one, with the replies that followed it so far."""
    dup = repository.message_by_client_id(session, customer_id=customer_id, client_msg_id=client_msg_id)
    if dup is None:
        return None
    conv = repository.conversation(session, dup.conversation_id)
    later = repository.messages_after(session, conversation_id=dup.conversation_id, message_id=dup.id)
    replies = []
    for m in later:
        if m.direction == "in":
            break
        replies.append(reply_of(m))
    # a bot answer still being made elsewhere (the message is recent and nothing followed it yet)
    recent = aware(dup.created_at) > utcnow() - timedelta(seconds=RACE_ANSWER_WAIT_S * 3)
    pending = recent and not later and conv.status == "open" and conv.owner == "bot"
    return Outcome(conv.id, conv.owner, replies, None, dup.id, None, pending=pending)


def button_title(session: Session, conv_id: str, text: str) -> str | None:
    """The title of the button whose payload ``text`` is, among the latest bot messages with buttons."""
    if not text.startswith("/"):
        return None
    for buttons in repository.recent_button_sets(session, conversation_id=conv_id):
        for button in buttons or []:
            if isinstance(button, dict) and button.get("payload") == text and button.get("title"):
                return str(button["title"])
    return None
