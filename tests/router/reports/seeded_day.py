"""A small, fixed day of conversations whose KPIs are computed by hand (in the comments and in ``EXPECTED``).

Shared by the KPI tests, the per-agent performance tests and the dashboard browser test.  Times are relative to
``t0`` so the same day can be written "yesterday" or "an hour ago".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from router.db import session_scope
from router.gateway.models import Conversation, ConversationEvent, Customer, Message, Survey
from router.tickets.service import TicketService


@dataclass(frozen=True)
class Spec:
    key: str
    channel: str
    minute: float  # start, minutes after t0
    faq: tuple[str, ...] = ()  # FAQ decisions: answer | clarify | decline
    handoff_events: int = 0  # handoff_requested events (a shopper may ask twice)
    queued: bool = False
    wait_s: float | None = None  # hand-off -> accept
    reply_s: float | None = None  # hand-off -> first agent reply
    end: str | None = None  # bot_idle | customer | agent | abandoned | ticket | None (still open)
    handle_s: float = 300.0  # accept -> close
    rating: int | None = None
    agent: str | None = None


# hand-off happens 60 s after the start; every agent conversation is handled by the agent named in ``agent``
DAY: list[Spec] = [
    Spec("c1", "web", 0, faq=("answer", "answer"), end="bot_idle"),
    Spec("c2", "web", 5, faq=("answer", "decline"), end="customer"),
    Spec("c3", "app", 10, faq=("answer",)),  # still talking to the bot: not ended, not in containment
    Spec("c4", "app", 15, faq=("clarify",)),
    Spec("c5", "web", 20, handoff_events=1, queued=True, wait_s=15, reply_s=30, end="agent", handle_s=240,
         rating=5, agent="a"),
    Spec("c6", "web", 25, handoff_events=2, queued=True, wait_s=30, reply_s=50, end="agent", handle_s=360,
         rating=2, agent="a"),
    Spec("c7", "miniprogram", 30, handoff_events=1, end="ticket"),  # nobody online: left a message
    Spec("c8", "app", 35, handoff_events=1, queued=True, end="abandoned"),
    Spec("c9", "app", 40, handoff_events=1, queued=True),  # still waiting
    Spec("c10", "web", 70, faq=("answer",), end="bot_idle"),  # the next hour
]
# by hand from DAY (service level threshold 20 s)
EXPECTED: dict[str, Any] = {
    "conversations": 10,
    "ended": 7,  # c1 c2 c5 c6 c7 c8 c10
    "open": 3,  # c3 c4 c9
    "bot_resolved": 3,  # c1 c2 c10: ended without a hand-off
    "containment_rate": 0.4286,  # 3 / 7
    "faq_decisions": 7,  # 2 + 2 + 1 + 1 + 1
    "faq_answered": 5,
    "faq_answer_rate": 0.7143,  # 5 / 7
    "handoffs": 5,  # c5 c6 (asked twice, counted once) c7 c8 c9
    "escalation_rate": 0.5,  # 5 / 10
    "queued": 4,  # c5 c6 c8 c9
    "left_message": 1,  # c7
    "answered": 2,  # c5 c6
    "abandoned": 1,  # c8
    "waiting": 1,  # c9
    "abandonment_rate": 0.25,  # 1 / 4
    "asa_s": 22.5,  # (15 + 30) / 2
    "first_response_s": 40.0,  # (30 + 50) / 2
    "service_level": 0.3333,  # c5 within 20 s / (2 answered + 1 abandoned)
    "surveys": 2,
    "csat_avg": 3.5,
    "csat_share": 0.5,
    "tickets": 1,
}
EXPECTED_BY_CHANNEL = {"web": 5, "app": 4, "miniprogram": 1}


def write_day(
    sessions: sessionmaker[Session], t0: datetime, agents: dict[str, int], *, tickets: TicketService | None = None
) -> dict[str, str]:
    """Write DAY from ``t0``; ``agents`` maps the spec's agent names to user ids. Returns key -> conversation id."""
    ids: dict[str, str] = {}
    with session_scope(sessions) as s:
        for spec in DAY:
            ids[spec.key] = _write(s, spec, t0, agents, tickets)
    return ids


def _write(s: Session, spec: Spec, t0: datetime, agents: dict[str, int], tickets: TicketService | None) -> str:
    start = t0 + timedelta(minutes=spec.minute)
    customer = f"seeded-{spec.key}-{int(t0.timestamp())}"
    s.add(Customer(id=customer, created_at=start))
    s.flush()
    conv = Conversation(customer_id=customer, channel=spec.channel, first_channel=spec.channel, owner="bot",
                        status="open", created_at=start, updated_at=start)
    s.add(conv)
    s.flush()

    def event(type_: str, at: datetime, **data: Any) -> None:
        s.add(ConversationEvent(conversation_id=conv.id, type=type_, channel=spec.channel, data=data, created_at=at))

    def say(sender: str, text: str, at: datetime, agent_id: int | None = None) -> None:
        s.add(Message(conversation_id=conv.id, customer_id=customer, direction="in" if sender == "customer" else "out",
                      sender=sender, channel=spec.channel, text=text, agent_id=agent_id, created_at=at))

    event("conversation_started", start, channel=spec.channel)
    say("customer", "你好，我想咨询一下", start)
    for i, decision in enumerate(spec.faq):
        event("faq", start + timedelta(seconds=10 + i), decision=decision, faq_id="refund_time", score=0.8)
    handed = start + timedelta(seconds=60)
    for i in range(spec.handoff_events):
        event("handoff_requested", handed + timedelta(seconds=i), reason="request_human", skill="general", priority=1)
    agent_id = agents.get(spec.agent) if spec.agent else None
    end_at = start + timedelta(seconds=120)
    if spec.queued:
        conv.handed_off_at, conv.owner = handed, "queue"
        event("queued", handed, position=1, skill="general")
    if spec.wait_s is not None:
        conv.assigned_at, conv.owner, conv.agent_id = handed + timedelta(seconds=spec.wait_s), "agent", agent_id
        event("assigned", conv.assigned_at, agent_id=agent_id, first=True)
        say("system", "客服已接入", conv.assigned_at)
        end_at = conv.assigned_at + timedelta(seconds=spec.handle_s)
    if spec.reply_s is not None:
        conv.first_agent_reply_at = handed + timedelta(seconds=spec.reply_s)
        event("agent_first_reply", conv.first_agent_reply_at, agent_id=agent_id)
        say("agent", "您好，很高兴为您服务", conv.first_agent_reply_at, agent_id)
    if spec.end is not None:
        resolution = {"bot_idle": "bot", "customer": "bot", "agent": "agent", "abandoned": "abandoned",
                      "ticket": "ticket"}[spec.end]
        conv.status, conv.owner, conv.closed_at, conv.resolution = "closed", "bot", end_at, resolution
        by = {"bot_idle": "idle", "customer": "customer", "agent": "agent"}.get(spec.end)
        if spec.end == "abandoned":
            event("abandoned", end_at, by="customer")
        elif by is not None:
            event("closed", end_at, by=by, agent_id=agent_id)
    if spec.end == "ticket":
        event("no_agent_online", handed, skill="general")
        if tickets is not None:
            ref = tickets.create_from_conversation(
                conversation_id=conv.id, customer_id=customer, channel=spec.channel, text="请尽快联系我",
                category="general", priority=1, source="leave_message", session=s, at=handed)
            event("ticket_created", handed, ticket_id=ref, source="leave_message")
    if spec.rating is not None:
        s.add(Survey(conversation_id=conv.id, customer_id=customer, agent_id=agent_id, channel=spec.channel,
                     rating=spec.rating, created_at=end_at + timedelta(seconds=30)))
        event("survey", end_at + timedelta(seconds=30), rating=spec.rating, agent_id=agent_id)
    conv.updated_at = end_at
    s.flush()
    return conv.id
