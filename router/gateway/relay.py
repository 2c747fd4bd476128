"""The bot's side of a bot-owned conversation: grade the shopper's anger, ask Rasa, relay its answer (texts and
buttons shown, custom payloads consumed), follow a handoff it asked for, and stand in politely when it is down."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from router import timing
from router.gateway import bot_payloads, repository
from router.gateway.anger import OFFER_EVENT, AngerPolicy, Grade
from router.gateway.delivery import Delivery
from router.gateway.handoff import Handoffs
from router.gateway.inbound import StoredInbound
from router.gateway.messages import record_event, store_out, system_replies
from router.gateway.outcome import Outcome
from router.gateway.ports import HandoffQueue
from router.gateway.rasa_client import RasaClient, RasaMessage, RasaUnavailable
from router.gateway.schemas import Button, InboundMessage, Reply
from router.gateway.texts import Texts
from router.gateway.transactions import Transactions
from router.sentiment import SentimentResult

log = logging.getLogger(__name__)
RECORDED_KINDS = ("fallback", "faq", "order")  # payloads written to the conversation's events


@dataclass(frozen=True)
class BotHandoff:
    """The bot asked for a person: its reason, its skill (it knew the intent and the FAQ category) and its priority,
    a floor (the gateway adds what only it knows, the recent messages and VIP status, by the same policy)."""

    reason: str
    skill: str
    intent: str | None
    floor: int

    @classmethod
    def of(cls, fields: dict[str, Any]) -> BotHandoff:
        try:
            floor = int(fields.get("priority") or 0)
        except (TypeError, ValueError):
            floor = 0
        return cls(
            reason=str(fields.get("reason") or "request_human"),
            skill=str(fields.get("skill") or "general"),
            intent=str(fields.get("intent") or "") or None,
            floor=floor,
        )


@dataclass
class BotTurn:
    """What one answer of the bot holds: replies to show, events to record, maybe a handoff."""

    replies: list[Reply] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    handoff: BotHandoff | None = None

    @property
    def fallback(self) -> bool:
        return any(kind == "fallback" for kind, _ in self.events)


def read_bot_turn(messages: list[RasaMessage]) -> BotTurn:
    """Split Rasa's messages into replies (text and buttons) and ``{"kefu": ...}`` payloads, each validated against
    the contract (router/gateway/bot_payloads.py) and read leniently when it does not match."""
    turn = BotTurn()
    for m in messages:
        payload = m.get("custom")
        if isinstance(payload, dict) and "kefu" in payload:
            typed = bot_payloads.validate(payload)
            fields = {k: v for k, v in (typed if typed is not None else payload).items() if k != "kefu"}
            kind = str(payload.get("kefu"))
            if kind == "handoff":
                turn.handoff = BotHandoff.of(fields)
            elif kind == "fallback":
                turn.events.append((kind, {"count": fields.get("count")}))
            elif kind in RECORDED_KINDS:
                turn.events.append((kind, fields))
            continue
        text = m.get("text")
        if text:
            buttons = [
                Button(title=str(b.get("title", "")), payload=str(b.get("payload", "")))
                for b in m.get("buttons") or []
                if isinstance(b, dict)
            ]
            turn.replies.append(Reply(text=text, buttons=buttons, sender="bot"))
    return turn


async def pause_bot(rasa: RasaClient, conv_id: str) -> None:
    try:
        await rasa.pause(conv_id)
    except RasaUnavailable as exc:  # the gateway owns the routing either way; Rasa is only told to stay quiet
        log.warning("could not pause rasa for %s: %s", conv_id, exc.reason)


class BotRelay:
    def __init__(
        self,
        *,
        tx: Transactions,
        rasa: RasaClient,
        queue: HandoffQueue,
        anger: AngerPolicy,
        texts: Texts,
        delivery: Delivery,
        handoffs: Handoffs,
    ) -> None:
        self.tx = tx
        self.rasa = rasa
        self.queue = queue
        self.anger = anger
        self.texts = texts
        self.delivery = delivery
        self.handoffs = handoffs

    async def answer(
        self, stored: StoredInbound, inbound: InboundMessage, customer_id: str, sentiment: dict[str, Any]
    ) -> Outcome:
        """A message of a bot-owned conversation; the response to anger is graded (router/gateway/anger.py)."""
        conv_id, msg_id = stored.conversation_id, stored.message_id
        grade = await self._anger_grade(conv_id, msg_id, stored.sentiment)
        if grade == "handoff":
            outcome = await self.handoffs.request(
                conv_id, reason="angry", text=inbound.text, lead=self.texts("angry_handoff")
            )
            outcome.message_id, outcome.sentiment = msg_id, sentiment
            await pause_bot(self.rasa, conv_id)
            return outcome
        reserved = {"channel", "customer_id", "conversation_id"}
        metadata = {
            "channel": stored.channel,
            "customer_id": customer_id,
            "conversation_id": conv_id,
            "sentiment": sentiment,
            **{k: v for k, v in inbound.metadata.items() if k not in reserved},
        }
        try:
            with timing.stage("bot"):
                bot_messages = await self.rasa.send(sender=conv_id, text=inbound.text, metadata=metadata)
        except RasaUnavailable as exc:
            log.warning("rasa unavailable for %s: %s", conv_id, exc.reason)
            outcome = await self._bot_down(conv_id, inbound.text)
        else:
            outcome = await self.deliver_turn(conv_id, customer_id, read_bot_turn(bot_messages), inbound.text)
            if grade == "offer" and outcome.owner == "bot":
                outcome.replies += await self._anger_offer(conv_id, customer_id, msg_id)
        outcome.message_id, outcome.sentiment = msg_id, sentiment
        return outcome

    async def deliver_turn(self, conv_id: str, customer_id: str, turn: BotTurn, shopper_text: str) -> Outcome:
        """Record the turn (events, the fallback streak), store and push its replies, and follow its handoff."""

        def record(session: Session) -> list[Reply]:
            conv = repository.conversation(session, conv_id)
            for kind, data in turn.events:
                if kind == "fallback":
                    conv.consecutive_fallbacks += 1
                record_event(session, conv, kind, **data)
            if not turn.fallback:
                conv.consecutive_fallbacks = 0
            record_event(session, conv, "bot_reply", count=len(turn.replies))
            return store_out(session, conv, turn.replies, "bot")

        stored = await self.tx.run(record)
        await self.delivery.replies(customer_id, conv_id, "bot", stored)
        if turn.handoff is None:
            return Outcome(conv_id, "bot", stored)
        handoff = turn.handoff
        outcome = await self.handoffs.request(
            conv_id,
            reason=handoff.reason,
            text=shopper_text,
            skill=handoff.skill,
            intent=handoff.intent,
            floor=handoff.floor,
            # a shopper who takes the "转人工" offered after an upset message is served like an angry one
            offer_taken=await self.tx.run(lambda s: self.anger.offered_before(s, conv_id)),
            lead=None,
        )
        outcome.replies = stored + outcome.replies
        return outcome

    async def _anger_grade(self, conv_id: str, msg_id: int, result: SentimentResult) -> Grade:
        settings = self.anger.settings
        if result.anger < min(settings.offer_anger, settings.handoff_anger) and not (
            self.anger.negative(result.label, result.score, result.anger)
        ):
            return "none"  # the common case, without a query
        earlier = await self.tx.run(lambda s: self.anger.earlier_turns(s, conv_id, msg_id))
        return self.anger.grade(result, earlier)

    async def _anger_offer(self, conv_id: str, customer_id: str, msg_id: int) -> list[Reply]:
        """After the bot's answer to a moderately upset message: one apology per conversation and a 转人工 button."""

        def store(session: Session) -> list[Reply]:
            conv = repository.conversation(session, conv_id)
            first = not self.anger.offered_before(session, conv_id)
            record_event(session, conv, OFFER_EVENT, message_id=msg_id, apology=first)
            button = self.texts("anger_offer_button")
            reply = Reply(
                text=self.texts("anger_offer_apology" if first else "anger_offer"),
                buttons=[Button(title=button, payload=button)],
                sender="bot",
            )
            return store_out(session, conv, [reply], "bot")

        replies = await self.tx.run(store)
        await self.delivery.replies(customer_id, conv_id, "bot", replies)
        return replies

    async def _bot_down(self, conv_id: str, text: str) -> Outcome:
        """Rasa did not answer: a person takes over where one is online, else a polite reply (the message is kept)."""
        if await run_in_threadpool(self.queue.agents_online, None) > 0:
            lead = self.texts("rasa_down") + self.texts("rasa_down_handoff")
            return await self.handoffs.request(conv_id, reason="bot_unavailable", text=text, lead=lead)

        def store(session: Session) -> tuple[str, list[Reply]]:
            conv = repository.conversation(session, conv_id)
            record_event(session, conv, "bot_unavailable")
            said = self.texts("rasa_down") + self.texts("rasa_down_no_agent")
            return conv.customer_id, system_replies(session, conv, said)

        customer_id, replies = await self.tx.run(store)
        await self.delivery.replies(customer_id, conv_id, "bot", replies)
        return Outcome(conv_id, "bot", replies)
