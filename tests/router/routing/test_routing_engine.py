"""The engine with a virtual clock: eligibility and relaxation, priority + aging, longest idle, capacity, offers."""

from __future__ import annotations

import threading

import pytest

from router.routing.eligibility import RelaxationPolicy
from router.routing.engine import EngineConfig, RoutingEngine
from router.routing.errors import (
    AlreadyQueued,
    InvalidTransfer,
    NoAgentOnline,
    NotAssigned,
    NotYourOffer,
    OfferNotPending,
)
from router.routing.models import AgentStatus, ItemState, RoutingEvent
from tests.router.routing.helpers import VirtualClock, agent


def make(clock: VirtualClock, **config: object) -> tuple[RoutingEngine, list[RoutingEvent]]:
    engine = RoutingEngine(config=EngineConfig(**config), clock=clock)  # type: ignore[arg-type]
    events: list[RoutingEvent] = []
    engine.events.subscribe(events.append)
    return engine, events


def offers_to(engine: RoutingEngine, agent_id: int) -> list[str]:
    return [o.conversation_id for o in engine.offers_for(agent_id)]


def enqueue(engine: RoutingEngine, cid: str, skill: str = "after_sales", priority: int = 0) -> None:
    engine.enqueue(conversation_id=cid, customer_id=f"cust-{cid}", skill=skill, priority=priority)


def test_relaxation_policy_tiers() -> None:
    policy = RelaxationPolicy(steps=((0.0, 3), (60.0, 1)), any_agent_after_s=180.0)
    assert [policy.tier_for_wait(t) for t in (0, 59.9, 60, 179, 180, 1e6)] == [0, 0, 1, 1, 2, 2]
    assert [policy.min_proficiency(t) for t in (0, 1, 2)] == [3, 1, None]
    assert policy.next_tier_after(0) == 60.0 and policy.next_tier_after(1) == 180.0
    assert policy.next_tier_after(2) is None
    with pytest.raises(ValueError):
        RelaxationPolicy(steps=((10.0, 3),))


def test_proficiency_relaxes_with_wait_time(clock: VirtualClock) -> None:
    engine, _ = make(clock)
    engine.upsert_agent(agent(1, {"after_sales": 2}))  # below the initial floor of 3
    engine.upsert_agent(agent(2, {"logistics": 5}))  # no after_sales skill at all
    enqueue(engine, "c1")
    assert engine.items["c1"].state is ItemState.waiting
    clock.advance(59)
    engine.tick()
    assert engine.items["c1"].state is ItemState.waiting
    clock.advance(1)
    engine.tick()  # 60 s: proficiency >= 1 is enough
    assert offers_to(engine, 1) == ["c1"]
    engine.accept(engine.offers_for(1)[0].id, 1)

    enqueue(engine, "c2")  # agent 1 is full now; only agent 2 (no skill) is free
    clock.advance(179)
    engine.tick()
    assert engine.items["c2"].state is ItemState.waiting
    clock.advance(1)
    engine.tick()  # 180 s: any online agent
    assert offers_to(engine, 2) == ["c2"]


def test_higher_proficiency_first_then_longest_idle(clock: VirtualClock) -> None:
    engine, _ = make(clock)
    engine.upsert_agent(agent(1, {"billing": 4}, idle_since=100.0))
    engine.upsert_agent(agent(2, {"billing": 4}, idle_since=50.0))  # idle longer
    engine.upsert_agent(agent(3, {"billing": 5}, idle_since=900.0))  # most skilled
    enqueue(engine, "a", "billing")
    assert offers_to(engine, 3) == ["a"]
    enqueue(engine, "b", "billing")
    assert offers_to(engine, 2) == ["b"]
    enqueue(engine, "c", "billing")
    assert offers_to(engine, 1) == ["c"]


def test_priority_and_aging_order(clock: VirtualClock) -> None:
    engine, _ = make(clock, priority_weight_s=30.0, require_online_agent=False)
    engine.upsert_agent(agent(1, {"general": 5}, status=AgentStatus.away))
    enqueue(engine, "old-low", "general", priority=0)  # key 0
    clock.advance(100)
    enqueue(engine, "new-high", "general", priority=5)  # key 100 - 150 = -50: jumps ahead
    clock.advance(10)
    enqueue(engine, "newer-p3", "general", priority=3)  # key 110 - 90 = 20: after old-low (aging wins)
    clock.advance(1)
    enqueue(engine, "newest-low", "general", priority=0)
    assert engine.status_of("new-high").position == 1
    assert engine.status_of("old-low").position == 2
    assert engine.status_of("newer-p3").position == 3
    order = []
    engine.set_status(1, AgentStatus.online)
    for _ in range(4):
        (offer,) = engine.offers_for(1)
        order.append(offer.conversation_id)
        engine.accept(offer.id, 1)
        engine.close(offer.conversation_id, 1)
    assert order == ["new-high", "old-low", "newer-p3", "newest-low"]


def test_capacity_is_respected(clock: VirtualClock) -> None:
    engine, _ = make(clock)
    engine.upsert_agent(agent(1, {"general": 5}, capacity=2))
    for cid in ("a", "b", "c"):
        enqueue(engine, cid, "general")
    assert sorted(offers_to(engine, 1)) == ["a", "b"]
    assert engine.items["c"].state is ItemState.waiting
    offer = engine.offers_for(1)[0]
    engine.accept(offer.id, 1)
    assert engine.items["c"].state is ItemState.waiting  # accepted chats still count against capacity
    engine.close(offer.conversation_id, 1)
    assert "c" in offers_to(engine, 1)


def test_timeout_reoffers_to_someone_else(clock: VirtualClock) -> None:
    engine, events = make(clock, offer_timeout_s=30.0)
    engine.upsert_agent(agent(1, {"general": 5}, idle_since=1.0))
    engine.upsert_agent(agent(2, {"general": 4}, idle_since=2.0))
    enqueue(engine, "c", "general")
    assert offers_to(engine, 1) == ["c"]
    clock.advance(29.9)
    engine.tick()
    assert offers_to(engine, 1) == ["c"]
    clock.advance(0.2)
    engine.tick()
    assert offers_to(engine, 1) == [] and offers_to(engine, 2) == ["c"]
    assert [e.type for e in events if e.agent_id == 1][-1] == "offer_timed_out"
    old = [e for e in events if e.type == "offer_timed_out"][0].data["offer_id"]
    with pytest.raises(OfferNotPending):
        engine.accept(old, 1)  # a late accept loses


def test_reject_reoffers_and_skips_rejecting_agent(clock: VirtualClock) -> None:
    engine, _ = make(clock, reoffer_cooldown_s=120.0)
    engine.upsert_agent(agent(1, {"general": 5}))
    enqueue(engine, "c", "general")
    (offer,) = engine.offers_for(1)
    engine.reject(offer.id, 1)
    assert engine.items["c"].state is ItemState.waiting  # nobody else; agent 1 is in cool-down
    engine.upsert_agent(agent(2, {"general": 3}))
    assert offers_to(engine, 2) == ["c"]
    engine.reject(engine.offers_for(2)[0].id, 2)
    clock.advance(121)
    engine.tick()  # cool-down over: offered again to the best agent
    assert offers_to(engine, 1) == ["c"]


def test_offer_belongs_to_its_agent(clock: VirtualClock) -> None:
    engine, _ = make(clock)
    engine.upsert_agent(agent(1, {"general": 5}))
    engine.upsert_agent(agent(2, {"general": 5}))
    enqueue(engine, "c", "general")
    offer = engine.offers_for(1)[0] if engine.offers_for(1) else engine.offers_for(2)[0]
    other = 2 if offer.agent_id == 1 else 1
    with pytest.raises(NotYourOffer):
        engine.accept(offer.id, other)


def test_going_away_rescinds_pending_offers(clock: VirtualClock) -> None:
    engine, events = make(clock)
    engine.upsert_agent(agent(1, {"general": 5}, idle_since=1.0))
    engine.upsert_agent(agent(2, {"general": 5}, idle_since=2.0))
    enqueue(engine, "c", "general")
    assert offers_to(engine, 1) == ["c"]
    engine.set_status(1, AgentStatus.away)
    assert offers_to(engine, 2) == ["c"]
    assert any(e.type == "offer_rescinded" and e.agent_id == 1 for e in events)
    engine.rescind(engine.offers_for(2)[0].id)  # a supervisor withdraws it
    assert engine.items["c"].state is ItemState.offered  # straight back to agent 2, the only one online
    assert offers_to(engine, 2) == ["c"]


def test_transfer_to_skill_and_to_agent(clock: VirtualClock) -> None:
    engine, events = make(clock)
    engine.upsert_agent(agent(1, {"general": 5}, capacity=2))
    engine.upsert_agent(agent(2, {"billing": 5}))
    engine.upsert_agent(agent(3, {"general": 3}))
    enqueue(engine, "c", "general")
    engine.accept(engine.offers_for(1)[0].id, 1)
    new = engine.transfer("c", 1, to_skill="billing", note="客户要开增值税专票")
    assert new.reason == "transfer" and new.note == "客户要开增值税专票"
    (offer,) = engine.offers_for(2)
    assert offer.conversation_id == "c"
    offered = [e for e in events if e.type == "offer" and e.agent_id == 2][-1]
    assert offered.data["note"] == "客户要开增值税专票"
    engine.accept(offer.id, 2)
    with pytest.raises(InvalidTransfer):
        engine.transfer("c", 2, to_agent_id=2)
    engine.transfer("c", 2, to_agent_id=3, note="请跟进")
    assert offers_to(engine, 3) == ["c"]
    engine.reject(engine.offers_for(3)[0].id, 3)  # target declines: back to the billing queue
    assert engine.items["c"].state is ItemState.waiting or offers_to(engine, 2) == ["c"]
    with pytest.raises(NotAssigned):
        engine.transfer("c", 1, to_skill="general")


def test_abandon_everywhere(clock: VirtualClock) -> None:
    engine, events = make(clock)
    engine.upsert_agent(agent(1, {"general": 5}, capacity=2))
    for cid in ("offered", "assigned", "waiting"):
        enqueue(engine, cid, "general")
    engine.accept(next(o.id for o in engine.offers_for(1) if o.conversation_id == "assigned"), 1)
    engine.abandon("waiting")
    engine.abandon("offered")
    assert any(e.type == "offer_rescinded" and e.conversation_id == "offered" for e in events)
    engine.abandon("assigned")
    assert any(
        e.type == "closed" and e.conversation_id == "assigned" and e.data["reason"] == "abandoned" for e in events
    )
    assert engine.items == {} and engine.get_agent(1).load == {"chat": 0}


def test_no_agent_online_and_duplicates(clock: VirtualClock) -> None:
    engine, _ = make(clock)
    with pytest.raises(NoAgentOnline):
        enqueue(engine, "c")
    engine.upsert_agent(agent(1, {"logistics": 5}, capacity=0))
    assert engine.agents_online("logistics") == 1 and engine.agents_online("billing") == 0
    enqueue(engine, "c", "billing")  # any online agent will qualify after 180 s
    with pytest.raises(AlreadyQueued):
        enqueue(engine, "c", "billing")


def test_queue_feedback_eta_from_recent_answers(clock: VirtualClock) -> None:
    engine, _ = make(clock)
    engine.upsert_agent(agent(1, {"general": 5}))
    for i in range(6):  # answer six conversations, one every 30 s
        enqueue(engine, f"done{i}", "general")
        engine.accept(engine.offers_for(1)[0].id, 1)
        clock.advance(30)
        engine.close(f"done{i}", 1)
    enqueue(engine, "busy", "general")
    engine.accept(engine.offers_for(1)[0].id, 1)
    enqueue(engine, "w1", "general")
    enqueue(engine, "w2", "general")
    status = engine.status_of("w2")
    assert status.position == 2 and status.agents_online == 1
    assert status.eta_s is not None and 30 <= status.eta_s <= 120


def test_double_accept_from_threads_exactly_one_wins(clock: VirtualClock) -> None:
    engine, _ = make(clock)
    engine.upsert_agent(agent(1, {"general": 5}))
    enqueue(engine, "c", "general")
    offer_id = engine.offers_for(1)[0].id
    wins: list[str] = []
    losses: list[str] = []
    barrier = threading.Barrier(8)

    def accept() -> None:
        barrier.wait()
        try:
            engine.accept(offer_id, 1)
            wins.append("ok")
        except OfferNotPending:
            losses.append("lost")

    threads = [threading.Thread(target=accept) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and len(losses) == 7
    assert engine.conversations_for(1)[0].conversation_id == "c"


def test_relaxation_timer_fires_exactly_at_its_due_time() -> None:
    clock = VirtualClock(start=1_795_541_539.8081849)  # a float where t0 + 60 - t0 != 60
    engine, _ = make(clock)
    engine.upsert_agent(agent(1, {"general": 1}))
    enqueue(engine, "c", "general")
    due = engine.next_due()
    assert due is not None
    clock.now = due
    assert engine.tick() == 1
    assert offers_to(engine, 1) == ["c"]
