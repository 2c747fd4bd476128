"""The gateway: every shopper message goes through here; it decides who owns the conversation (bot, queue or agent).

Order of work for one inbound message: persist it with its sentiment, then route it to exactly one owner. Nothing is
dropped: a message is stored before any network call, and a failing Rasa server turns into a polite reply (and a
handoff where agents are online), never into an error for the shopper.

:class:`GatewayService` is the facade the rest of the router calls; each job is done by a small collaborator built in
its ``__init__``: identity, inbound persistence and dedupe, surveys, left messages, the bot relay, handoff,
ownership changes, agent replies and idle close.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from router.db import session_scope
from router.gateway import identity, idle
from router.gateway.agent_replies import AgentReplies
from router.gateway.anger import AngerPolicy
from router.gateway.delivery import Delivery
from router.gateway.handoff import Handoffs
from router.gateway.inbound import InboundStore, StoredInbound
from router.gateway.left_messages import LeftMessages
from router.gateway.limits import LocalRateLimiter, RateLimiter
from router.gateway.messages import ShopperMessages
from router.gateway.outcome import Outcome
from router.gateway.ownership import Followup, Ownership
from router.gateway.ports import HandoffQueue, OutboundSink, Push, TicketSink
from router.gateway.rasa_client import RasaClient
from router.gateway.relay import BotRelay
from router.gateway.schemas import InboundMessage, MessageResponse, Reply
from router.gateway.surveys import Surveys
from router.gateway.texts import Texts
from router.gateway.transactions import CustomerLocks, Transactions
from router.sentiment import SentimentAnalyzer


class GatewayService:
    """Routes shopper messages to the bot, the queue or an agent and relays everything back."""

    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        rasa: RasaClient,
        sentiment: SentimentAnalyzer,
        queue: HandoffQueue,
        tickets: TicketSink,
        push: Push,
        texts: dict[str, str] | None = None,
        history_for_sentiment: int = 5,
        rate_limiter: RateLimiter | None = None,
        outbound: OutboundSink | None = None,
        anger: AngerPolicy | None = None,
        leave_message_window_s: float = 1800.0,
    ) -> None:
        self.sessions = session_factory
        self.rasa = rasa
        self.sentiment = sentiment
        self.queue = queue
        self.tickets = tickets
        self.push = push
        self.outbound = outbound
        self.texts = Texts(texts)
        self.rate_limiter = rate_limiter or LocalRateLimiter(limit=20, window_s=60.0)
        self.anger = anger or AngerPolicy()
        self.history_for_sentiment = history_for_sentiment
        self.leave_message_window_s = leave_message_window_s
        self._locks = CustomerLocks()  # one message per customer at a time on this replica

        tx = Transactions(session_factory)
        self.delivery = delivery = Delivery(push, outbound)
        shopper_messages = ShopperMessages(sentiment)
        self.surveys = Surveys(tx=tx, shopper_messages=shopper_messages, texts=self.texts, delivery=delivery)
        self.left_messages = LeftMessages(
            shopper_messages=shopper_messages, texts=self.texts, tickets=tickets, window_s=leave_message_window_s
        )
        self.inbound = InboundStore(
            tx=tx,
            sentiment=sentiment,
            shopper_messages=shopper_messages,
            surveys=self.surveys,
            left_messages=self.left_messages,
            history_for_sentiment=history_for_sentiment,
        )
        self.handoffs = Handoffs(
            tx=tx,
            queue=queue,
            anger=self.anger,
            texts=self.texts,
            delivery=delivery,
            history_for_sentiment=history_for_sentiment,
        )
        self.relay = BotRelay(
            tx=tx, rasa=rasa, queue=queue, anger=self.anger, texts=self.texts, delivery=delivery, handoffs=self.handoffs
        )
        self.ownership = Ownership(
            sessions=session_factory, tx=tx, rasa=rasa, queue=queue, texts=self.texts, delivery=delivery
        )
        self.agent_replies = AgentReplies(tx=tx, texts=self.texts, delivery=delivery)
        self._tx = tx

    def text(self, key: str, **values: Any) -> str:
        return self.texts(key, **values)

    # ------------------------------------------------------------------ identity
    def resolve_customer_id(self, session: Session, channel: str, external_id: str) -> str:
        """Map a channel identity to the customer; mini-program openids are linked rows, others are customer ids."""
        return identity.resolve_customer_id(session, channel, external_id)

    def link_identity(self, *, channel: str, external_id: str, customer_id: str) -> None:
        """Link e.g. a mini-program openid to an existing customer so every channel shares one history."""
        with session_scope(self.sessions) as session:
            identity.link_identity(session, channel=channel, external_id=external_id, customer_id=customer_id)

    # ------------------------------------------------------------------ inbound
    async def handle(self, inbound: InboundMessage) -> MessageResponse:
        """One shopper message: stored, then answered by its conversation's owner. Raises
        :class:`~router.gateway.errors.RateLimited` when the customer sends too fast."""
        if inbound.channel == "miniprogram":  # an openid names a customer only through the identity table
            customer_id = await self._tx.first_wins(
                lambda s: identity.resolve_customer_id(s, inbound.channel, inbound.customer_id)
            )
        else:  # web and app identities are customer ids; the row is made in the message's own transaction
            customer_id = inbound.customer_id
        await self.rate_limiter.check(customer_id)
        async with self._locks.hold(customer_id):
            outcome = await self._handle_locked(inbound, customer_id)
        return outcome.response()

    async def _handle_locked(self, inbound: InboundMessage, customer_id: str) -> Outcome:
        stage = await self._tx.first_wins(lambda s: self.inbound.persist(s, inbound, customer_id))
        if isinstance(stage, Outcome) and stage.pending:
            stage = await self.inbound.winner_answer(inbound, customer_id, stage)
        if isinstance(stage, Outcome):  # duplicate, survey answer or left message: already complete
            await self.delivery.replies(customer_id, stage.conversation_id, stage.owner, stage.replies)
            if stage.survey_done:
                await self.delivery.to_customer(
                    customer_id, {"type": "survey_done", "conversation_id": stage.conversation_id}
                )
            return stage
        return await self._route(stage, inbound, customer_id)

    async def _route(self, stored: StoredInbound, inbound: InboundMessage, customer_id: str) -> Outcome:
        """The stored message goes to its conversation's owner: the agent, the queue (a waiting note) or the bot."""
        result = stored.sentiment
        sentiment: dict[str, Any] = dict(result.as_dict())
        sentiment["mood"] = self.anger.mood(result.label, result.score, result.anger)  # what agents are shown
        conv_id, msg_id = stored.conversation_id, stored.message_id
        if stored.owner == "agent" and stored.agent_id is not None:
            await self.delivery.to_agent(
                stored.agent_id,
                {
                    "type": "message",
                    "conversation_id": conv_id,
                    "message": {"id": msg_id, "sender": "customer", "text": stored.shown_text, "sentiment": sentiment},
                },
            )
            return Outcome(conv_id, "agent", [], None, msg_id, sentiment)
        if stored.owner == "queue":
            replies, status = await self.handoffs.still_queued(conv_id, customer_id)
            return Outcome(conv_id, "queue", replies, status, msg_id, sentiment)
        return await self.relay.answer(stored, inbound, customer_id, sentiment)

    async def submit_survey(
        self, *, conversation_id: str, rating: int, comment: str | None, owned_by: Callable[[str], bool] | None = None
    ) -> list[Reply] | None:
        """Survey answered with the widget's stars; the thank-you goes into the history and to every open window.
        None when the conversation is unknown (or not ``owned_by`` the caller: checked in the transaction that
        records the answer)."""
        return await self.surveys.submit(
            conversation_id=conversation_id, rating=rating, comment=comment, owned_by=owned_by
        )

    # ------------------------------------------------------------------ agent side
    def apply_assigned(self, *, conversation_id: str, agent_id: int, agent_name: str) -> Followup | None:
        """An agent accepted: the agent owns the conversation (router/gateway/ownership.py)."""
        return self.ownership.apply_assigned(conversation_id=conversation_id, agent_id=agent_id, agent_name=agent_name)

    def apply_requeued(self, *, conversation_id: str, reason: str | None = None) -> Followup | None:
        """Transferred, or its agent's console vanished (``reason="agent_lost"``): back to the queue."""
        return self.ownership.apply_requeued(conversation_id=conversation_id, reason=reason)

    def apply_closed(self, *, conversation_id: str, agent_id: int | None) -> Followup | None:
        """The agent closed: the bot gets the customer back and the shopper is asked to rate the service."""
        return self.ownership.apply_closed(conversation_id=conversation_id, agent_id=agent_id)

    async def follow_up(self, followup: Followup | None) -> None:
        await self.ownership.follow_up(followup)

    async def on_assigned(self, *, conversation_id: str, agent_id: int, agent_name: str) -> None:
        followup = await run_in_threadpool(
            lambda: self.apply_assigned(conversation_id=conversation_id, agent_id=agent_id, agent_name=agent_name)
        )
        await self.follow_up(followup)

    async def on_requeued(self, *, conversation_id: str) -> None:
        await self.follow_up(await run_in_threadpool(lambda: self.apply_requeued(conversation_id=conversation_id)))

    async def on_closed(self, *, conversation_id: str, agent_id: int | None) -> None:
        followup = await run_in_threadpool(
            lambda: self.apply_closed(conversation_id=conversation_id, agent_id=agent_id)
        )
        await self.follow_up(followup)

    async def agent_message(self, *, conversation_id: str, agent_id: int, text: str) -> Reply:
        """An agent's reply: only the agent who owns the conversation may send; the shopper gets it pushed.
        Raises :class:`~router.gateway.errors.ConversationNotFound` or
        :class:`~router.gateway.errors.NotConversationOwner`."""
        return await self.agent_replies.chat(conversation_id=conversation_id, agent_id=agent_id, text=text)

    async def ticket_reply(self, *, conversation_id: str, ticket_ref: str, agent_id: int, text: str) -> Reply | None:
        """An agent's public reply to a ticket the shopper opened from a conversation (e.g. a left message).

        It goes into that conversation's history, which the shopper sees on any channel, and is pushed to the
        chat windows the shopper has open. The conversation's owner does not change (it is usually closed).
        Returns None when the conversation no longer exists."""
        return await self.agent_replies.ticket(
            conversation_id=conversation_id, ticket_ref=ticket_ref, agent_id=agent_id, text=text
        )

    async def shopper_left(self, *, conversation_id: str, owned_by: Callable[[str], bool] | None = None) -> bool:
        """The shopper left while waiting: the queue entry is abandoned and the conversation ends.

        With ``owned_by``, a conversation that is unknown or not the caller's raises
        :class:`~router.gateway.errors.ConversationNotFound` (checked in the transaction that closes it)."""
        return await self.ownership.shopper_left(conversation_id=conversation_id, owned_by=owned_by)

    def close_idle_bot_conversations(self, *, idle_s: float, now: datetime | None = None) -> int:
        """Bot conversations idle for ``idle_s`` end as resolved by the bot (containment counts them)."""
        return idle.close_idle_bot_conversations(self.sessions, self.delivery, idle_s=idle_s, now=now)
