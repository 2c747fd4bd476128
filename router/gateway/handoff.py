"""Handing a conversation to people: skill and priority from the escalation policy (knowledge_base/escalation.py),
the routing engine's queue, or the offer to leave a message when nobody who could take it is online."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from knowledge_base.escalation import Feeling, decide
from router.clock import utcnow
from router.conversations.models import Customer
from router.conversations.queries import recent_scored_feelings
from router.gateway import repository
from router.gateway.anger import AngerPolicy
from router.gateway.context import substantive_questions
from router.gateway.delivery import Delivery
from router.gateway.errors import NoAgentOnline
from router.gateway.left_messages import NO_AGENT_EVENT
from router.gateway.messages import record_event, system_replies
from router.gateway.outcome import Outcome
from router.gateway.ports import HandoffQueue, QueuePlace
from router.gateway.schemas import Reply
from router.gateway.texts import Texts, format_eta
from router.gateway.transactions import Transactions
from router.identity.pii import mask_text

OFFER_CARD_LOOKBACK = 20  # the shopper's messages searched for her last substantive one (the agent's offer card)
OFFER_CARD_CHARS = 200


def queue_text(texts: Texts, status: QueuePlace | None, *, again: bool = False) -> str:
    """What a queued shopper is told when queued (``again``: when she writes while waiting): how many are ahead
    of her (position 1 is next: nobody ahead) and the estimated wait."""
    eta = format_eta(status.eta_s if status else None)
    prefix = "still_queued" if again else "queued"
    if status is None or status.position <= 1:
        return texts(f"{prefix}_next", eta=eta)
    return texts(prefix, position=status.position - 1, eta=eta)


class Handoffs:
    def __init__(
        self,
        *,
        tx: Transactions,
        queue: HandoffQueue,
        anger: AngerPolicy,
        texts: Texts,
        delivery: Delivery,
        history_for_sentiment: int,
    ) -> None:
        self.tx = tx
        self.queue = queue
        self.anger = anger
        self.texts = texts
        self.delivery = delivery
        self.history_for_sentiment = history_for_sentiment

    async def request(
        self,
        conv_id: str,
        *,
        reason: str,
        lead: str | None,
        text: str = "",
        skill: str | None = None,
        intent: str | None = None,
        floor: int = 0,
        offer_taken: bool = False,
    ) -> Outcome:
        """Hand the conversation to the queue, or offer to leave a message when no agent is online. ``lead`` is
        said first (e.g. an apology); ``floor`` is the lowest priority (the bot's)."""
        off_hours: str | None = None

        def stage(session: Session) -> tuple[str, str, str, int, dict[str, Any]]:
            conv = repository.conversation(session, conv_id)
            customer = session.get(Customer, conv.customer_id)
            vip = bool(customer and customer.vip)
            decision = decide(
                reason=reason,
                skill=skill,
                intent=intent,
                text=text,
                feelings=self.recent_feelings(session, conv_id),
                offer_taken=offer_taken,
                vip=vip,
                floor=floor,
            )
            required, priority = decision.skill, decision.priority
            record_event(session, conv, "handoff_requested", reason=reason, skill=required, priority=priority)
            return conv.customer_id, conv.channel, required, priority, self.offer_card(session, conv_id, vip)

        customer_id, channel, required, priority, card = await self.tx.run(stage)
        try:
            # the engine may offer the conversation to an agent at once; ownership moves only when the agent accepts
            await run_in_threadpool(
                self.queue.enqueue,
                conversation_id=conv_id,
                customer_id=customer_id,
                channel=channel,
                skill=required,
                priority=priority,
                reason=reason,
                card=card,
            )
            queued = True
        except NoAgentOnline as exc:
            queued, off_hours = False, exc.off_hours
        status = await run_in_threadpool(self.queue.queue_status, conv_id) if queued else None

        def store(session: Session) -> tuple[str, list[Reply]]:
            conv = repository.conversation(session, conv_id)
            conv.required_skill, conv.priority = required, priority
            texts = [lead] if lead else []
            if not queued:
                conv.handoff_reason = "leave_message"
                record_event(session, conv, NO_AGENT_EVENT, skill=required, off_hours=off_hours)
                texts.append(self.texts("off_hours", hours=off_hours) if off_hours else self.texts("no_agent_online"))
            else:
                if conv.owner == "bot":  # an accept that raced ahead already made it "agent": keep that
                    conv.owner = "queue"
                conv.handoff_reason = reason
                conv.handed_off_at = conv.handed_off_at or utcnow()
                record_event(session, conv, "queued", position=status.position if status else None, skill=required)
                if conv.owner == "queue":
                    texts.append(queue_text(self.texts, status))
            return conv.owner, system_replies(session, conv, *texts)

        owner, replies = await self.tx.run(store)
        await self.delivery.replies(customer_id, conv_id, owner, replies)
        return Outcome(conv_id, owner, replies, status if owner == "queue" else None)

    async def still_queued(self, conv_id: str, customer_id: str) -> tuple[list[Reply], QueuePlace | None]:
        """A queued shopper wrote again: her message is seen, and she is told her place (stored and pushed)."""
        status = await run_in_threadpool(self.queue.queue_status, conv_id)
        text = queue_text(self.texts, status, again=True)
        replies = await self.tx.run(lambda s: system_replies(s, repository.conversation(s, conv_id), text))
        await self.delivery.replies(customer_id, conv_id, "queue", replies)
        return replies, status

    def offer_card(self, session: Session, conv_id: str, vip: bool) -> dict[str, Any]:
        """What the agent's offer card shows: the shopper's last substantive message (masked: it is stored with the
        queue entry), her mood at her last message, and whether she is a VIP."""
        rows = repository.recent_inbound_moods(session, conversation_id=conv_id, limit=OFFER_CARD_LOOKBACK)
        questions = substantive_questions([{"text": r.text} for r in reversed(rows)], [])
        card: dict[str, Any] = {"vip": vip}
        if questions:
            card["last_message"] = mask_text(questions[0])[:OFFER_CARD_CHARS]
        if rows:
            card["mood"] = self.anger.mood(rows[0].sentiment_label, rows[0].sentiment_score, rows[0].anger)
        return card

    def recent_feelings(self, session: Session, conv_id: str) -> list[Feeling]:
        """The sentiment of the shopper's recent messages, oldest first (the policy reads anger now and the trend)."""
        rows = recent_scored_feelings(session, conversation_id=conv_id, limit=self.history_for_sentiment)
        return [Feeling.stored(label, score, anger) for label, score, anger in rows]
