"""Persistence on a real SQLite file and a real PostgreSQL database: migrations, atomic claims, recovery."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import Engine, inspect, select
from sqlalchemy.exc import IntegrityError

from router.auth import create_user
from router.db import make_engine, make_session_factory
from router.migrate import downgrade, upgrade
from router.routing.engine import EngineConfig, RoutingEngine
from router.routing.errors import OfferNotPending
from router.routing.models import AgentStatus, ItemState, OfferState
from router.routing.store import SqlStore
from router.routing.tables import Assignment, Handoff, OfferRow
from tests.router.routing.helpers import VirtualClock

TABLES = {"users", "handoffs", "offers", "assignments"}


def add_agents(db: Engine, n: int, skills: dict[str, int] | None = None) -> list[int]:
    sessions = make_session_factory(db)
    return [
        create_user(
            sessions,
            username=f"agent{i}-{uuid.uuid4().hex[:6]}",
            password="secret-pass-1",
            display_name=f"客服{i}",
            skills=skills or {"general": 5},
            capacity={"chat": 1},
            status="online",
        )
        for i in range(n)
    ]


def new_engine(db: Engine, clock: VirtualClock, **config: object) -> RoutingEngine:
    engine = RoutingEngine(SqlStore(db), config=EngineConfig(**config), clock=clock)  # type: ignore[arg-type]
    engine.recover()
    return engine


def test_migration_up_down_up(db_url: str) -> None:
    db = make_engine(db_url)
    try:
        upgrade(engine=db)
        assert TABLES <= set(inspect(db).get_table_names())
        downgrade(engine=db)
        assert not TABLES & set(inspect(db).get_table_names())
        upgrade(engine=db)
        assert TABLES <= set(inspect(db).get_table_names())
    finally:
        db.dispose()


def test_database_refuses_two_live_handoffs_for_one_conversation(migrated: Engine, clock: VirtualClock) -> None:
    add_agents(migrated, 1)
    engine = new_engine(migrated, clock)
    engine.enqueue(conversation_id="c", customer_id="u", skill="general")
    sessions = make_session_factory(migrated)
    with sessions() as s:
        s.add(
            Handoff(
                id=uuid.uuid4().hex,
                conversation_id="c",
                customer_id="u",
                channel="chat",
                skill="general",
                language="zh",
                priority=0,
                enqueued_at=clock(),
                state="waiting",
                reason="x",
                excluded={},
                context={},
            )
        )
        with pytest.raises(IntegrityError):
            s.commit()


def test_sql_claim_two_sessions_exactly_one_wins(migrated: Engine, clock: VirtualClock) -> None:
    add_agents(migrated, 1)
    engine = new_engine(migrated, clock)
    engine.enqueue(conversation_id="c", customer_id="u", skill="general")
    (offer,) = engine.offers.pending.values()
    store = SqlStore(migrated)
    barrier = threading.Barrier(2)
    results: list[bool] = []

    def claim() -> None:
        with store.transaction() as tx:
            barrier.wait()
            results.append(tx.finish_offer(offer.id, OfferState.accepted, clock()))

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, True]


def test_two_replicas_accepting_the_same_offer(migrated: Engine, clock: VirtualClock) -> None:
    """Two engines (as two replicas) both hold the pending offer in memory; the database lets only one win."""
    (agent_id,) = add_agents(migrated, 1)
    first = new_engine(migrated, clock)
    first.enqueue(conversation_id="c", customer_id="u", skill="general")
    second = new_engine(migrated, clock)
    (offer,) = first.offers.pending.values()
    assert offer.id in second.offers.pending
    barrier = threading.Barrier(2)
    outcome: list[str] = []

    def accept(engine: RoutingEngine) -> None:
        barrier.wait()
        try:
            engine.accept(offer.id, agent_id)
            outcome.append("won")
        except OfferNotPending:
            outcome.append("lost")

    threads = [threading.Thread(target=accept, args=(e,)) for e in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcome) == ["lost", "won"]
    with make_session_factory(migrated)() as s:
        assert s.scalar(select(OfferRow.state).where(OfferRow.id == offer.id)) == "accepted"
        assert len(s.scalars(select(Assignment).where(Assignment.conversation_id == "c")).all()) == 1


def test_recovery_keeps_queue_offers_and_timers(migrated: Engine, clock: VirtualClock) -> None:
    a1, a2 = add_agents(migrated, 2)
    before = new_engine(migrated, clock, offer_timeout_s=30.0)
    for cid in ("c1", "c2", "c3"):
        before.enqueue(conversation_id=cid, customer_id=cid, skill="general")
        clock.advance(1)
    offered = {o.conversation_id: o for o in before.offers.pending.values()}
    assert set(offered) == {"c1", "c2"} and before.items["c3"].state is ItemState.waiting
    del before  # the process dies without any shutdown

    clock.advance(10)  # back up within the offer deadline
    after = new_engine(migrated, clock, offer_timeout_s=30.0)
    assert {o.id for o in after.offers.pending.values()} == {o.id for o in offered.values()}
    assert after.next_due() == min(o.deadline for o in offered.values())
    assert after.items["c3"].state is ItemState.waiting
    holder = offered["c1"].agent_id
    after.accept(offered["c1"].id, holder)
    assert after.items["c1"].state is ItemState.assigned

    clock.advance(30)  # c2's offer times out: its agent is in cool-down for c2 and takes c3 instead
    after.tick()
    other = a2 if holder == a1 else a1
    assert after.items["c2"].state is ItemState.waiting
    assert [o.conversation_id for o in after.offers_for(other)] == ["c3"]
    c3_offer = after.offers_for(other)[0].id
    del after

    clock.advance(5)
    again = new_engine(migrated, clock, offer_timeout_s=30.0)
    assert again.items["c1"].state is ItemState.assigned and again.items["c1"].agent_id == holder
    assert again.items["c2"].state is ItemState.waiting and again.items["c2"].excluded.get(other, 0) > clock()
    assert [o.id for o in again.offers_for(other)] == [c3_offer]
    assert again.get_agent(holder).load == {"chat": 1}
    other = a2 if holder == a1 else a1
    assert again.get_agent(other).status is AgentStatus.online


def test_offer_expired_while_down_times_out_on_recovery(migrated: Engine, clock: VirtualClock) -> None:
    a1, a2 = add_agents(migrated, 2)
    before = new_engine(migrated, clock, offer_timeout_s=30.0)
    before.set_status(a2, AgentStatus.offline)
    before.enqueue(conversation_id="c", customer_id="u", skill="general")
    (offer,) = before.offers.pending.values()
    assert offer.agent_id == a1
    before.set_status(a2, AgentStatus.online)  # a1 holds the offer, so a2 stays free
    del before

    clock.advance(45)  # down longer than the deadline
    after = new_engine(migrated, clock, offer_timeout_s=30.0)
    (reoffer,) = after.offers.pending.values()
    assert reoffer.agent_id == a2 and reoffer.id != offer.id
    with make_session_factory(migrated)() as s:
        assert s.scalar(select(OfferRow.state).where(OfferRow.id == offer.id)) == "timed_out"
