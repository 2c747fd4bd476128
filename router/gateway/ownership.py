"""Who owns a conversation, as the routing engine and the shopper change it: an agent accepted (agent), it was
transferred or its agent vanished (queue), the agent closed (bot again, with a survey), the shopper left.

Changes from the routing engine happen in two steps: the database change runs synchronously in the engine's callback
(so the accept/close API call returns only once the gateway routes by the new owner), and the :class:`Followup`
(pause/resume Rasa, pushes to the shopper) runs afterwards on the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from router.clock import utcnow
from router.conversations.models import Conversation
from router.db import session_scope
from router.gateway.delivery import Delivery
from router.gateway.errors import ConversationNotFound
from router.gateway.messages import record_event, system_replies
from router.gateway.ports import HandoffQueue
from router.gateway.rasa_client import RasaClient, RasaUnavailable
from router.gateway.relay import pause_bot
from router.gateway.schemas import Reply
from router.gateway.texts import Texts
from router.gateway.transactions import Transactions

log = logging.getLogger(__name__)


@dataclass
class Followup:
    """Async work left after an ownership change was written: tell Rasa, push to the shopper."""

    customer_id: str
    conversation_id: str
    owner: str
    replies: list[Reply]
    pause: bool = False
    resume: bool = False
    survey: bool = False


def assign(session: Session, conv: Conversation, *, agent_id: int) -> bool:
    """The agent owns the conversation; True on its first assignment (the KPIs' time to first assignment)."""
    first = conv.assigned_at is None
    conv.owner, conv.agent_id = "agent", agent_id
    if first:
        conv.assigned_at = utcnow()
    record_event(session, conv, "assigned", agent_id=agent_id, first=first)
    return first


def requeue(session: Session, conv: Conversation, *, reason: str | None) -> None:
    """Back to the queue until someone accepts: transferred, or its agent's console vanished (``agent_lost``)."""
    lost = reason == "agent_lost"
    conv.owner, conv.agent_id = "queue", None
    record_event(session, conv, "requeued" if lost else "transferred", **({"reason": reason} if lost else {}))


def close_by_agent(session: Session, conv: Conversation, *, agent_id: int | None) -> None:
    """The agent closed: the bot gets the customer back and a survey is pending."""
    conv.status, conv.owner = "closed", "bot"
    conv.resolution = "agent"
    conv.closed_at = utcnow()
    conv.survey_pending = True
    record_event(session, conv, "closed", by="agent", agent_id=agent_id)


def close_by_shopper(session: Session, conv: Conversation) -> bool:
    """The shopper left; True when she was waiting in the queue (the conversation is abandoned)."""
    was_queued = conv.owner == "queue"
    conv.status, conv.closed_at = "closed", utcnow()
    conv.resolution = "abandoned" if was_queued else conv.resolution or "bot"
    record_event(session, conv, "abandoned" if was_queued else "closed", by="customer")
    return was_queued


class Ownership:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        tx: Transactions,
        rasa: RasaClient,
        queue: HandoffQueue,
        texts: Texts,
        delivery: Delivery,
    ) -> None:
        self.sessions = sessions
        self.tx = tx
        self.rasa = rasa
        self.queue = queue
        self.texts = texts
        self.delivery = delivery

    def _open(self, session: Session, conversation_id: str) -> Conversation | None:
        conv = session.get(Conversation, conversation_id)
        return conv if conv is not None and conv.status == "open" else None

    def apply_assigned(self, *, conversation_id: str, agent_id: int, agent_name: str) -> Followup | None:
        """An agent accepted: the agent owns the conversation."""
        with session_scope(self.sessions) as session:
            conv = self._open(session, conversation_id)
            if conv is None:
                return None
            assign(session, conv, agent_id=agent_id)
            replies = system_replies(session, conv, self.texts("agent_joined", agent_name=agent_name))
            self.delivery.notify(session, conv, "agent_joined", replies, agent_name=agent_name)
            return Followup(conv.customer_id, conversation_id, "agent", replies, pause=True)

    def apply_requeued(self, *, conversation_id: str, reason: str | None = None) -> Followup | None:
        """Transferred to another skill or agent, or put back in the queue because its agent's console vanished
        (``reason="agent_lost"``): back to the queue until someone accepts."""
        with session_scope(self.sessions) as session:
            conv = self._open(session, conversation_id)
            if conv is None:
                return None
            requeue(session, conv, reason=reason)
            text = self.texts("agent_lost_requeued" if reason == "agent_lost" else "agent_transferred")
            replies = system_replies(session, conv, text)
            self.delivery.notify(session, conv, "agent_transferred", replies)
            return Followup(conv.customer_id, conversation_id, "queue", replies)

    def apply_closed(self, *, conversation_id: str, agent_id: int | None) -> Followup | None:
        """The agent closed: the bot gets the customer back and the shopper is asked to rate the service."""
        with session_scope(self.sessions) as session:
            conv = self._open(session, conversation_id)
            if conv is None:
                return None
            close_by_agent(session, conv, agent_id=agent_id)
            stored = system_replies(session, conv, self.texts("agent_left"), self.texts("survey"))
            self.delivery.notify(session, conv, "agent_left", stored[:1])
            self.delivery.notify(session, conv, "survey", stored[1:], rating_min=1, rating_max=5)
            self.delivery.notify(session, conv, "conversation_closed", by="agent")
            return Followup(conv.customer_id, conversation_id, "bot", stored, resume=True, survey=True)

    async def follow_up(self, followup: Followup | None) -> None:
        if followup is None:
            return
        if followup.pause:
            await pause_bot(self.rasa, followup.conversation_id)
        if followup.resume:
            try:
                await self.rasa.resume(followup.conversation_id)
            except RasaUnavailable as exc:
                log.warning("could not resume rasa for %s: %s", followup.conversation_id, exc.reason)
        await self.delivery.replies(followup.customer_id, followup.conversation_id, followup.owner, followup.replies)
        if followup.survey:
            await self.delivery.to_customer(
                followup.customer_id, {"type": "survey", "conversation_id": followup.conversation_id}
            )

    async def shopper_left(self, *, conversation_id: str, owned_by: Callable[[str], bool] | None = None) -> bool:
        """The shopper left: a queued conversation is abandoned (and leaves the queue), any other open one ends.

        With ``owned_by``, a conversation that is unknown or not the caller's raises :class:`ConversationNotFound`
        (checked in the transaction that closes it)."""

        def apply(session: Session) -> bool:
            conv = session.get(Conversation, conversation_id)
            if owned_by is not None and (conv is None or not owned_by(conv.customer_id)):
                raise ConversationNotFound(conversation_id=conversation_id)
            if conv is None or conv.status != "open":
                return False
            return close_by_shopper(session, conv)

        was_queued = await self.tx.run(apply)
        if was_queued:
            await run_in_threadpool(self.queue.abandon, conversation_id)
        return was_queued
