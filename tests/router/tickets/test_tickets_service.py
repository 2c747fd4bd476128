"""Tickets over a real migrated SQLite database, with agents from the real users table."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from router.clock import aware
from router.conversations.models import Conversation, ConversationEvent, Customer, Message
from router.db import session_scope
from router.demo.traffic import TrafficWriter, make_script
from router.routing.store import SqlStore
from router.tickets.assign import SkillAssigner, store_directory
from router.tickets.errors import InvalidTicket, InvalidTransition, NoEligibleAgent, TicketNotFound
from router.tickets.models import Ticket
from router.tickets.service import TicketService
from router.tickets.sla import SlaPolicy, sla_state
from tests.router.ops_support import add_user, migrated

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now = self.now + timedelta(**kw)


@pytest.fixture
def env(tmp_path: Path):
    engine, sessions = migrated(tmp_path)
    ids = {
        "logi": add_user(sessions, "logi", skills={"logistics": 4}, status="online"),
        "logi_off": add_user(sessions, "logi_off", skills={"logistics": 5}, status="offline"),
        "sales": add_user(sessions, "sales", skills={"after_sales": 3}, status="online"),
    }
    clock = Clock(T0)
    service = TicketService(
        session_factory=sessions,
        sla=SlaPolicy(),
        assigner=SkillAssigner(store_directory(SqlStore(engine))),
        clock=clock,
    )
    yield engine, sessions, service, clock, ids
    engine.dispose()


def test_left_message_becomes_a_classified_prioritised_assigned_ticket(env) -> None:
    engine, sessions, service, clock, ids = env
    import random

    script = make_script(random.Random(3), "left_message", topic="package_lost")
    writer = TrafficWriter(sessions, seed=1, tickets=service)
    [conv_id] = writer.write_scripts([(script, T0)])

    with session_scope(sessions) as s:
        event = s.scalar(
            select(ConversationEvent).where(
                ConversationEvent.conversation_id == conv_id, ConversationEvent.type == "ticket_created"
            )
        )
        assert event is not None
        ref = event.data["ticket_id"]
    ticket, history = service.get(ref)
    assert ticket.ref == ref and ref.startswith("T20261120")
    assert ticket.source == "leave_message"
    assert ticket.category == "logistics" and ticket.topic == "package_lost"
    # package_lost is urgent (+2) on top of the conversation's queue priority 1
    assert ticket.priority >= 3
    # the online logistics agent beats the more proficient but offline one
    assert ticket.assignee_id == ids["logi"] and ticket.status == "assigned"
    assert [e.type for e in history] == ["created", "assigned", "status_changed"]
    assert history[1].data["how"] == "router"
    # the ticket is dated when the message was left (scripted, a minute or two after the chat began)
    assert T0 < aware(ticket.created_at) < T0 + timedelta(minutes=10)
    first_due, resolve_due = SlaPolicy().due("logistics", ticket.priority, ticket.created_at)
    state = sla_state(ticket, T0)
    assert state.first_response_due_at == first_due and state.resolution_due_at == resolve_due
    assert first_due - aware(ticket.created_at) == timedelta(hours=2)


def test_the_gateway_session_is_shared_so_sqlite_never_waits_on_itself(env) -> None:
    engine, sessions, service, clock, ids = env
    # the gateway's own transaction has written (and holds the SQLite write lock) when it calls the sink
    done = threading.Event()
    started = time.monotonic()
    with session_scope(sessions) as s:
        s.add(Customer(id="c-1"))
        s.flush()
        conv = Conversation(customer_id="c-1", channel="web", first_channel="web", required_skill="after_sales")
        s.add(conv)
        s.flush()
        s.add(Message(conversation_id=conv.id, customer_id="c-1", direction="in", sender="customer", channel="web",
                      text="收到的杯子碎了，外包装也破了"))
        s.flush()
        ref = service.create_from_conversation(
            conversation_id=conv.id, customer_id="c-1", channel="web", text="收到的杯子碎了，外包装也破了",
            category="after_sales", priority=1, source="leave_message", session=s,
        )
        done.set()
    assert done.is_set() and time.monotonic() - started < 5
    ticket, _ = service.get(ref)
    assert ticket.topic == "package_damaged" and ticket.category == "after_sales"
    assert ticket.assignee_id == ids["sales"]


def test_vip_and_angry_shoppers_get_higher_priority_and_shorter_sla(env) -> None:
    engine, sessions, service, clock, ids = env
    with session_scope(sessions) as s:
        s.add_all([Customer(id="vip", vip=True), Customer(id="plain")])
        s.flush()
        for cid, label in (("vip", "angry"), ("plain", "neutral")):
            conv = Conversation(id=f"conv-{cid}", customer_id=cid, channel="app", first_channel="app")
            s.add(conv)
            s.flush()
            s.add(Message(conversation_id=conv.id, customer_id=cid, direction="in", sender="customer", channel="app",
                          text="发票抬头写错了，能重新开吗", sentiment_label=label))
    angry_vip = service.create(source="unresolved", subject="发票抬头写错了", conversation_id="conv-vip")
    plain = service.create(source="unresolved", subject="发票抬头写错了", conversation_id="conv-plain")
    assert angry_vip.category == plain.category == "billing"
    assert angry_vip.vip and not plain.vip
    assert angry_vip.priority >= plain.priority + 6
    assert angry_vip.priority >= SlaPolicy().urgent_priority
    fast = sla_state(angry_vip, T0).first_response_due_at
    slow = sla_state(plain, T0).first_response_due_at
    assert fast - T0 == timedelta(hours=2) and slow - T0 == timedelta(hours=4)
    # nobody has the billing skill: a general triage agent still gets it
    assert plain.assignee_id is not None


def test_status_flow_sla_pause_breaches_and_history(env) -> None:
    engine, sessions, service, clock, ids = env
    ticket = service.create(source="agent", subject="顾客要求补发赠品", category="after_sales", priority=2,
                            created_by=ids["sales"], assign="me")
    assert ticket.status == "assigned" and ticket.assignee_id == ids["sales"]
    service.update(ticket.id, actor_id=ids["sales"], status="closed", note="已补发")
    with pytest.raises(InvalidTransition):
        service.update(ticket.id, actor_id=ids["sales"], status="assigned")  # closed is final

    fresh = service.create(source="agent", subject="物流一直不更新", category="logistics", priority=0, assign="none")
    assert fresh.status == "new" and fresh.assignee_id is None
    with pytest.raises(InvalidTicket):
        service.update(fresh.id, actor_id=None, status="assigned")  # nobody to work on it
    clock.advance(hours=1)
    service.comment(fresh.id, actor_id=ids["logi"], text="内部备注：已联系快递", public=False)
    clock.advance(hours=1, minutes=1)  # logistics first response target is 2 h
    assert service.check_breaches() == [(fresh.ref, "first_response")]
    assert service.check_breaches() == []  # recorded once
    service.assign(fresh.id, actor_id=None)
    service.comment(fresh.id, actor_id=ids["logi"], text="您好，已为您催促快递，请耐心等待。")
    got, history = service.get(fresh.id)
    assert got.first_responded_at is not None and got.first_response_breached
    # waiting on the customer stops the resolution clock
    service.update(fresh.id, actor_id=ids["logi"], status="waiting_customer")
    due_before = sla_state(got, clock.now).resolution_due_at
    clock.advance(hours=30)  # longer than the 24 h resolution target
    assert service.check_breaches() == []
    service.comment(fresh.id, actor_id=None, text="还是没收到")  # the customer answers: back to the agent
    got, history = service.get(fresh.id)
    assert got.status == "assigned" and got.waiting_since is None
    assert sla_state(got, clock.now).resolution_due_at - due_before == timedelta(hours=30)
    service.update(fresh.id, actor_id=ids["logi"], status="resolved")
    service.update(fresh.id, actor_id=ids["logi"], status="closed")
    with pytest.raises(InvalidTransition):
        service.update(fresh.id, actor_id=ids["logi"], status="assigned")
    got, history = service.get(fresh.id)
    assert not got.resolution_breached
    types = [e.type for e in history]
    assert types.count("sla_breached") == 1 and types[-1] == "status_changed"
    assert [e.data["new"] for e in history if e.type == "status_changed"] == [
        "assigned", "waiting_customer", "assigned", "resolved", "closed"
    ]


def test_resolution_breach_and_errors(env) -> None:
    engine, sessions, service, clock, ids = env
    ticket = service.create(source="agent", subject="退款一直没到账", category="after_sales", priority=1)
    clock.advance(hours=49)
    found = service.check_breaches()
    assert (ticket.ref, "resolution") in found and (ticket.ref, "first_response") in found
    with pytest.raises(TicketNotFound):
        service.get(99999)
    with pytest.raises(InvalidTicket):
        service.create(source="agent", subject="x", conversation_id="no-such-conversation")
    with pytest.raises(InvalidTicket):
        service.update(ticket.id, actor_id=None, assignee_id=424242)


def test_no_agents_means_no_eligible_agent(tmp_path: Path) -> None:
    engine, sessions = migrated(tmp_path, "empty.db")
    service = TicketService(session_factory=sessions, assigner=SkillAssigner(store_directory(SqlStore(engine))))
    ticket = service.create(source="agent", subject="想换个颜色")
    assert ticket.status == "new" and ticket.category == "after_sales"
    with pytest.raises(NoEligibleAgent):
        service.assign(ticket.id, actor_id=None)


def test_unresolved_conversations_get_one_ticket_each(env) -> None:
    engine, sessions, service, clock, ids = env
    writer = TrafficWriter(sessions, seed=5, queue_wait_mean_s=30)
    writer.write(40, start=T0 - timedelta(hours=3), end=T0, mix={"abandoned": 0.5, "faq_answered": 0.5})
    with session_scope(sessions) as s:
        abandoned = set(s.scalars(select(Conversation.id).where(Conversation.resolution == "abandoned")).all())
    assert abandoned
    refs = service.sweep_unresolved()
    assert len(refs) == len(abandoned)
    assert service.sweep_unresolved() == []
    with session_scope(sessions) as s:
        ticketed = set(s.scalars(select(Ticket.conversation_id).where(Ticket.source == "unresolved")).all())
        events = s.scalars(select(ConversationEvent).where(ConversationEvent.type == "ticket_created")).all()
    assert ticketed == abandoned
    assert {e.data["source"] for e in events} == {"unresolved"}


def test_assignment_notices_follow_the_transaction(env) -> None:
    engine, sessions, service, clock, ids = env
    seen: list[tuple[int, dict]] = []
    service.listeners.append(lambda agent, notice: seen.append((agent, notice)))
    with pytest.raises(RuntimeError), session_scope(sessions) as s:
        service.create(source="agent", subject="物流一直不更新", category="logistics", session=s)
        assert seen == []  # not before the commit
        raise RuntimeError("the caller's transaction fails")
    assert seen == []
    with session_scope(sessions) as s:
        assert s.scalar(select(Ticket.id)) is None  # rolled back with it
    ticket = service.create(source="agent", subject="物流一直不更新", category="logistics")
    assert seen == [(ids["logi"], {"type": "ticket_assigned", "ticket_id": ticket.id, "ref": ticket.ref,
                                   "subject": "物流一直不更新", "category": "logistics", "priority": 0})]
