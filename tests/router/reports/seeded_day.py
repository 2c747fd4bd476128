"""A small, fixed day of conversations whose KPIs are computed by hand (in the comments and in ``EXPECTED``).

Shared by the KPI tests, the per-agent performance tests and the dashboard browser test.  Times are relative to
``t0`` so the same day can be written "yesterday" or "an hour ago".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from router.conversations.models import Conversation, ConversationEvent, Customer, Message, Survey
from router.db import session_scope
from router.routing.tables import Assignment, Handoff
from router.supervision.models import AgentStatusChange
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
    transfer_after_s: float | None = None  # the agent transfers this long after accepting ...
    second_agent: str | None = None  # ... to this one, who accepts 10 s later, replies 20 s later and closes




# hand-off happens 60 s after the start; every agent conversation is handled by the agent named in ``agent``
DAY: list[Spec] = [
    Spec("c1", "web", 0, faq=("answer", "answer"), end="bot_idle"),
    Spec("c2", "web", 5, faq=("answer", "decline"), end="customer"),
    Spec("c3", "app", 10, faq=("answer",)),  # still talking to the bot: not ended, not in containment
    Spec("c4", "app", 15, faq=("clarify",)),
    Spec("c5", "web", 20, handoff_events=1, queued=True, wait_s=15, reply_s=30, end="agent", handle_s=240,
         rating=5, agent="a"),
    Spec("c6", "web", 25, handoff_events=2, queued=True, wait_s=30, reply_s=50, end="agent", handle_s=360,
         rating=2, agent="a", transfer_after_s=100, second_agent="b"),
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
# per agent over the day (a is online for the first hour of the day; b's time online is not recorded)
EXPECTED_AGENTS: dict[str, dict[str, Any]] = {
    # c5: accepted at +15 s, replied at +30 s (15 s), held 240 s, closed, rated 5;
    # c6: accepted at +30 s, replied at +50 s (20 s), transferred after 100 s
    "a": {"handled": 2, "ended": 2, "first_response_s": 17.5, "aht_s": 170.0, "resolved_without_ticket": 1,
          "resolution_rate": 0.5, "transferred": 1, "transfer_rate": 0.5, "surveys": 1, "csat_avg": 5.0,
          "busy_s": 340.0, "online_s": 3600.0, "occupancy": 0.0944},
    # c6 from a: accepted 10 s after the transfer, replied 20 s later, closed 250 s after accepting, rated 2
    "b": {"handled": 1, "ended": 1, "first_response_s": 20.0, "aht_s": 250.0, "resolved_without_ticket": 1,
          "resolution_rate": 1.0, "transferred": 0, "transfer_rate": 0.0, "surveys": 1, "csat_avg": 2.0,
          "busy_s": 250.0, "online_s": None, "occupancy": None},
}


def write_day(
    sessions: sessionmaker[Session], t0: datetime, agents: dict[str, int], *, tickets: TicketService | None = None
) -> dict[str, str]:
    """Write DAY from ``t0``; ``agents`` maps the spec's agent names to user ids. Returns key -> conversation id."""
    ids: dict[str, str] = {}
    with session_scope(sessions) as s:
        for spec in DAY:
            ids[spec.key] = _write(s, spec, t0, agents, tickets)
        if "a" in agents:
            s.add(AgentStatusChange(agent_id=agents["a"], status="online", at=t0.timestamp()))
            s.add(AgentStatusChange(agent_id=agents["a"], status="offline", at=t0.timestamp() + 3600))
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
    if spec.wait_s is not None and agent_id is not None:
        _assignments(s, spec, conv, agents, end_at)
    if spec.rating is not None:
        agent_id = conv.agent_id
        s.add(Survey(conversation_id=conv.id, customer_id=customer, agent_id=agent_id, channel=spec.channel,
                     rating=spec.rating, created_at=end_at + timedelta(seconds=30)))
        event("survey", end_at + timedelta(seconds=30), rating=spec.rating, agent_id=agent_id)
    conv.updated_at = end_at
    s.flush()
    return conv.id


def _assignments(s: Session, spec: Spec, conv: Conversation, agents: dict[str, int], end_at: datetime) -> None:
    """The routing rows of an answered conversation: one hand-off and assignment per agent who held it."""
    assert conv.handed_off_at is not None and conv.assigned_at is not None and spec.agent is not None
    first = Handoff(id=f"h1-{conv.id}", conversation_id=conv.id, customer_id=conv.customer_id, channel="chat",
                    skill="general", enqueued_at=conv.handed_off_at.timestamp(), state="closed",
                    agent_id=agents[spec.agent], excluded={}, context={})
    s.add(first)
    s.flush()
    accepted = conv.assigned_at.timestamp()
    if spec.transfer_after_s is None or spec.second_agent is None:
        first.ended_at = end_at.timestamp()
        s.add(Assignment(handoff_id=first.id, conversation_id=conv.id, agent_id=agents[spec.agent],
                         started_at=accepted, ended_at=end_at.timestamp(), end_reason="closed"))
        return
    moved = accepted + spec.transfer_after_s
    first.state, first.ended_at = "transferred", moved
    s.add(Assignment(handoff_id=first.id, conversation_id=conv.id, agent_id=agents[spec.agent], started_at=accepted,
                     ended_at=moved, end_reason="transferred"))
    second_id = agents[spec.second_agent]
    second = Handoff(id=f"h2-{conv.id}", conversation_id=conv.id, customer_id=conv.customer_id, channel="chat",
                     skill="general", enqueued_at=moved, state="closed", agent_id=second_id,
                     transferred_from=first.id, excluded={}, context={}, reason="transfer", ended_at=end_at.timestamp())
    s.add(second)
    s.flush()
    s.add(Assignment(handoff_id=second.id, conversation_id=conv.id, agent_id=second_id, started_at=moved + 10,
                     ended_at=end_at.timestamp(), end_reason="closed"))
    reply = datetime.fromtimestamp(moved + 30, end_at.tzinfo)
    s.add(Message(conversation_id=conv.id, customer_id=conv.customer_id, direction="out", sender="agent",
                  channel=spec.channel, text="您好，我来继续为您处理", agent_id=second_id, created_at=reply))
    conv.agent_id = second_id
