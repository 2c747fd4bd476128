"""Realistic, seeded shopper traffic: hundreds of conversations with the gateway's event vocabulary.

Two ways to use it:

* :class:`TrafficWriter` writes conversations, messages, events and surveys straight into the gateway's tables with
  past timestamps (fast; KPI, alert and learning tests, ``kefu demo seed``);
* :func:`replay` sends the shopper side of generated scripts to a running gateway's ``POST /api/v1/messages``.

The scripts come from :mod:`router.demo.scripts`, the replay from :mod:`router.demo.replay` (both re-exported here).

>>> scripts = generate_scripts(3, seed=7)
>>> len(scripts), scripts[0].turns[0] != ""
(3, True)
"""

from __future__ import annotations

import inspect
import random
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from knowledge_base.escalation import decide
from router.clock import aware
from router.conversations.models import Conversation, ConversationEvent, Customer, Message, Survey
from router.db import session_scope
from router.demo.replay import ReplayResult, replay
from router.demo.scripts import (
    AGENT_REPLIES,
    ANGRY_TEXTS,
    CHANNEL_WEIGHTS,
    CHANNELS,
    CLOSINGS,
    DEFAULT_MIX,
    FAQ_QUESTIONS,
    ORDER_QUESTIONS,
    UNKNOWN_THEMES,
    Kind,
    Script,
    generate_scripts,
    make_script,
    pick_kind,
)
from router.gateway.ports import TicketSink

__all__ = [
    "AGENT_REPLIES",
    "ANGRY_TEXTS",
    "CHANNELS",
    "CHANNEL_WEIGHTS",
    "CLOSINGS",
    "DEFAULT_MIX",
    "FAQ_QUESTIONS",
    "ORDER_QUESTIONS",
    "UNKNOWN_THEMES",
    "Kind",
    "ReplayResult",
    "Script",
    "TrafficWriter",
    "generate_scripts",
    "make_script",
    "replay",
    "seed_history",
]


class TrafficWriter:
    """Writes generated conversations into the gateway tables as the gateway would have, with past timestamps.

    ``queue_wait_mean_s`` shapes ASA and abandonment; ``tickets`` (any ``TicketSink``) receives left messages.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        seed: int = 0,
        agent_ids: Sequence[int] = (1, 2, 3),
        tickets: TicketSink | None = None,
        queue_wait_mean_s: float = 25.0,
        vip_share: float = 0.05,
    ) -> None:
        self.sessions = session_factory
        self.rng = random.Random(seed)
        self.agent_ids = list(agent_ids)
        self.tickets = tickets
        self.queue_wait_mean_s = queue_wait_mean_s
        self.vip_share = vip_share

    # ------------------------------------------------------------------ public
    def write(
        self,
        n: int,
        *,
        start: datetime,
        end: datetime,
        mix: dict[Kind, float] | None = None,
        channels: Sequence[str] | None = None,
    ) -> list[str]:
        """``n`` conversations starting uniformly at random in [start, end); returns their ids."""
        start, end = aware(start), aware(end)
        span = (end - start).total_seconds()
        starts = sorted(start + timedelta(seconds=self.rng.random() * span) for _ in range(n))
        scripts = [
            make_script(self.rng, pick_kind(self.rng, mix or DEFAULT_MIX),
                        channel=self.rng.choice(list(channels)) if channels else None)
            for _ in range(n)
        ]
        return self.write_scripts(zip(scripts, starts, strict=True))

    def write_spike(
        self, *, topic: str, start: datetime, duration_s: float, count: int, angry_share: float = 0.3
    ) -> list[str]:
        """``count`` shoppers raising ``topic`` (e.g. ``package_lost``) within ``duration_s`` from ``start``."""
        start = aware(start)
        items = []
        for _ in range(count):
            kind: Kind = "angry_complaint" if self.rng.random() < angry_share else "faq_answered"
            script = make_script(self.rng, kind, topic=topic)
            items.append((script, start + timedelta(seconds=self.rng.random() * duration_s)))
        return self.write_scripts(sorted(items, key=lambda pair: pair[1]))

    def write_scripts(self, items: Iterable[tuple[Script, datetime]]) -> list[str]:
        ids: list[str] = []
        with session_scope(self.sessions) as session:
            for script, at in items:
                ids.append(self._write_one(session, script, aware(at)))
        return ids

    # ------------------------------------------------------------------ one conversation
    def _write_one(self, s: Session, script: Script, t0: datetime) -> str:
        rng = self.rng
        if s.get(Customer, script.customer_id) is None:
            s.add(Customer(id=script.customer_id, vip=rng.random() < self.vip_share, created_at=t0))
            s.flush()
        conv = Conversation(
            id=uuid.UUID(int=rng.getrandbits(128)).hex, customer_id=script.customer_id, channel=script.channel,
            first_channel=script.channel, owner="bot", status="open", created_at=t0, updated_at=t0,
        )
        s.add(conv)
        s.flush()
        clock = [t0]

        def tick(lo: float, hi: float) -> datetime:
            clock[0] = clock[0] + timedelta(seconds=rng.uniform(lo, hi))
            return clock[0]

        def event(type_: str, at: datetime, **data: Any) -> None:
            s.add(
                ConversationEvent(conversation_id=conv.id, type=type_, channel=conv.channel, data=data, created_at=at)
            )

        def say(
            sender: str, text: str, at: datetime, *, sentiment: str | None = None, agent_id: int | None = None
        ) -> None:
            inbound = sender == "customer"
            label = sentiment if inbound else None
            score = {"angry": 0.9, "negative": 0.75, "neutral": 0.6, "positive": 0.8}.get(label or "", None)
            s.add(Message(
                conversation_id=conv.id, customer_id=conv.customer_id, direction="in" if inbound else "out",
                sender=sender, channel=conv.channel, text=text, agent_id=agent_id,
                sentiment_label=label, sentiment_score=score if inbound else None,
                anger=(0.85 if label == "angry" else 0.05) if inbound else None, created_at=at,
            ))
            if inbound and label == "angry":
                event("angry_message", at, score=score, anger=0.85)

        event("conversation_started", t0, channel=conv.channel)
        first, *rest = script.turns
        mood = script.sentiment
        say("customer", first, t0, sentiment=mood if mood != "angry" else "negative")
        kind = script.kind
        if kind in ("faq_answered", "faq_clarified"):
            at = tick(0.5, 1.5)
            if kind == "faq_clarified":
                alts = [script.topic, *rng.sample([t for t in FAQ_QUESTIONS if t != script.topic], 2)]
                event("faq", at, decision="clarify", faq_id=None, score=round(rng.uniform(0.3, 0.5), 3),
                      alternatives=alts)
                say("bot", "您是不是想问以下问题？", at)
                at = tick(5, 20)
                say("customer", rest.pop(0), at, sentiment="neutral")
                at = tick(0.5, 1.5)
            event("faq", at, decision="answer", faq_id=script.topic, score=round(rng.uniform(0.62, 0.97), 3),
                  alternatives=[])
            event("bot_reply", at, count=1)
            say("bot", f"（FAQ {script.topic} 的答案）", at)
            for text in rest:
                at = tick(5, 30)
                say("customer", text, at, sentiment="positive")
                event("bot_reply", tick(0.5, 1.5), count=1)
            self._close(conv, event, tick(120, 600), resolution="bot", by="idle")
        elif kind == "order_status":
            at = tick(0.5, 1.5)
            if rest:
                say("bot", "请提供您的订单号。", at)
                at = tick(5, 20)
                say("customer", rest[0], at, sentiment="neutral")
                at = tick(0.5, 1.5)
            event("order", at, order_id=script.meta["order_id"], status="shipped")
            event("bot_reply", at, count=1)
            say("bot", "您的订单已发货，正在运输中。", at)
            self._close(conv, event, tick(120, 600), resolution="bot", by="idle")
        elif kind == "unknown_to_agent":
            at = tick(0.5, 1.5)
            if rng.random() < 0.5:
                event("faq", at, decision="decline", faq_id=None, score=round(rng.uniform(0.05, 0.2), 3),
                      alternatives=[])
            else:
                event("fallback", at, count=1)
            say("bot", "抱歉，我没有理解您的问题。", at)
            at = tick(3, 15)
            say("customer", rest[0], at, sentiment="neutral")
            answer = UNKNOWN_THEMES[script.meta["theme"]][2]
            self._to_agent(s, conv, script, event, say, tick, reason="request_human", answer=answer)
        elif kind == "angry_complaint":
            at = tick(10, 40)
            say("customer", rest[0], at, sentiment="angry")
            self._to_agent(s, conv, script, event, say, tick, reason="angry", answer=AGENT_REPLIES[script.category],
                           rating_weights=(0.25, 0.25, 0.25, 0.15, 0.10))
        elif kind == "abandoned":
            at = tick(0.5, 1.5)
            event("faq", at, decision="answer", faq_id=script.topic, score=round(rng.uniform(0.55, 0.9), 3),
                  alternatives=[])
            say("bot", f"（FAQ {script.topic} 的答案）", at)
            at = tick(5, 30)
            say("customer", rest[0], at, sentiment=mood)
            self._handoff(conv, event, at, "request_human", script.category)
            left = tick(self.queue_wait_mean_s * 1.5, self.queue_wait_mean_s * 8)
            conv.status, conv.closed_at, conv.resolution, conv.owner = "closed", left, "abandoned", "bot"
            event("abandoned", left, by="customer")
        else:  # left_message
            at = tick(0.5, 1.5)
            event("faq", at, decision="answer", faq_id=script.topic, score=round(rng.uniform(0.55, 0.9), 3),
                  alternatives=[])
            say("bot", f"（FAQ {script.topic} 的答案）", at)
            at = tick(5, 30)
            say("customer", rest[0], at, sentiment=mood)
            priority = decide(reason="request_human", skill=script.category).priority
            event("handoff_requested", at, reason="request_human", skill=script.category, priority=priority)
            conv.required_skill, conv.priority, conv.handoff_reason = script.category, priority, "leave_message"
            event("no_agent_online", at)
            say("system", "抱歉，目前没有人工客服在线。", at)
            at = tick(20, 90)
            say("customer", rest[1], at, sentiment=mood)
            s.flush()
            if self.tickets is not None:
                ticket_id = self.tickets.create_from_conversation(
                    conversation_id=conv.id, customer_id=conv.customer_id, channel=conv.channel, text=rest[1],
                    category=script.category, priority=priority, source="leave_message",
                    **_sink_kw(self.tickets, s, at),
                )
            else:
                ticket_id = f"T{at:%Y%m%d}{rng.randrange(10**5):05d}"
            event("ticket_created", at, ticket_id=ticket_id, source="leave_message")
            conv.status, conv.closed_at, conv.resolution, conv.handoff_reason = "closed", at, "ticket", None
        conv.updated_at = conv.closed_at or clock[0]
        s.flush()
        return conv.id

    def _handoff(self, conv: Conversation, event: Any, at: datetime, reason: str, skill: str) -> None:
        priority = decide(reason=reason, skill=skill).priority
        event("handoff_requested", at, reason=reason, skill=skill, priority=priority)
        conv.required_skill, conv.priority, conv.handoff_reason = skill, priority, reason
        conv.owner, conv.handed_off_at = "queue", at
        event("queued", at, position=self.rng.randint(1, 4))

    def _to_agent(self, s: Session, conv: Conversation, script: Script, event: Any, say: Any, tick: Any, *,
                  reason: str, answer: str,
                  rating_weights: tuple[float, ...] = (0.03, 0.04, 0.13, 0.35, 0.45)) -> None:
        rng = self.rng
        at = tick(0.3, 1.0)
        self._handoff(conv, event, at, reason, script.category)
        wait = rng.expovariate(1.0 / self.queue_wait_mean_s)
        assigned = tick(wait, wait + 0.01)
        agent_id = rng.choice(self.agent_ids)
        conv.owner, conv.agent_id, conv.assigned_at = "agent", agent_id, assigned
        event("assigned", assigned, agent_id=agent_id, first=True)
        say("system", "您好，客服已接入。", assigned)
        replied = tick(8, 60)
        conv.first_agent_reply_at = replied
        event("agent_first_reply", replied, agent_id=agent_id)
        say("agent", answer, replied, agent_id=agent_id)
        if rng.random() < 0.5:
            say("customer", rng.choice(CLOSINGS), tick(10, 40), sentiment="positive")
        closed = tick(30, 240)
        self._close(conv, event, closed, resolution="agent", by="agent", agent_id=agent_id)
        if rng.random() < 0.7:
            rating = rng.choices([1, 2, 3, 4, 5], weights=rating_weights)[0]
            rated = tick(5, 60)
            comment = {1: "太慢了", 2: "没解决问题", 5: "客服很耐心，点赞"}.get(rating)
            s.add(Survey(conversation_id=conv.id, customer_id=conv.customer_id, agent_id=agent_id,
                         channel=conv.channel, rating=rating, comment=comment, created_at=rated))
            event("survey", rated, rating=rating, agent_id=agent_id)

    @staticmethod
    def _close(conv: Conversation, event: Any, at: datetime, *, resolution: str, by: str,
               agent_id: int | None = None) -> None:
        conv.status, conv.owner, conv.closed_at, conv.resolution = "closed", "bot", at, resolution
        if agent_id is None:
            event("closed", at, by=by)
        else:
            event("closed", at, by=by, agent_id=agent_id)


def _sink_kw(sink: TicketSink, session: Session, at: datetime) -> dict[str, Any]:
    """Pass our session (one SQLite writer) and the scripted time to sinks that accept them (``TicketService``)."""
    params = inspect.signature(sink.create_from_conversation).parameters
    return {k: v for k, v in (("session", session), ("at", at)) if k in params}


# ------------------------------------------------------------------ demo history
def seed_history(
    database_url: str,
    *,
    conversations: int = 600,
    days: float = 7.0,
    seed: int = 0,
    spike_topic: str | None = "package_lost",
    now: datetime | None = None,
) -> dict[str, int]:
    """Fill a migrated database with ``days`` of history ending ``now`` (for ``kefu demo seed`` and dashboards):
    conversations with events and surveys, tickets from left messages and unresolved chats (assigned to the agents
    in the users table), SLA breaches marked, and optionally a topic spike in the last ten minutes."""
    from router.db import make_engine, make_session_factory
    from router.routing.store import SqlStore
    from router.tickets.assign import SkillAssigner, store_directory
    from router.tickets.service import TicketService

    end = aware(now or datetime.now(UTC))
    engine = make_engine(database_url)
    try:
        sessions = make_session_factory(engine)
        store = SqlStore(engine)
        agent_ids = [a.id for a in store.load_agents()] or [1, 2, 3]
        tickets = TicketService(sessions, assigner=SkillAssigner(store_directory(store)))
        writer = TrafficWriter(sessions, seed=seed, agent_ids=agent_ids, tickets=tickets)
        ids = writer.write(conversations, start=end - timedelta(days=days), end=end - timedelta(minutes=15))
        spiked = []
        if spike_topic:
            spiked = writer.write_spike(topic=spike_topic, start=end - timedelta(minutes=10), duration_s=480,
                                        count=max(12, conversations // 40))
        unresolved = tickets.sweep_unresolved()
        breaches = tickets.check_breaches(now=end)
    finally:
        engine.dispose()
    return {"conversations": len(ids) + len(spiked), "unresolved_tickets": len(unresolved),
            "sla_breaches": len(breaches)}
