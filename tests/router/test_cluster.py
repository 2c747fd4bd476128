"""Two routing engines (as in two replicas) on one PostgreSQL database and one Redis: one consistent routing state."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis
from sqlalchemy.exc import IntegrityError

from router.auth import create_user
from router.cluster import ClusteredEngine
from router.db import make_engine, make_session_factory
from router.migrate import upgrade
from router.routing.engine import EngineConfig, RoutingEngine
from router.routing.errors import RoutingError
from router.routing.models import AgentStatus, ItemState, RoutingEvent
from router.routing.store import RoutingStore, SqlStore
from router.routing.tables import User

pytestmark = [pytest.mark.pg]
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture()
def pg_url() -> Iterator[str]:
    name = "kefu_cluster_" + uuid.uuid4().hex[:8]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    upgrade(url)
    yield url
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Builds:
    """Counts the routing engines a replica builds: one per full reload from the database."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, store: RoutingStore, config: EngineConfig) -> RoutingEngine:
        self.count += 1
        return RoutingEngine(store, config=config)


def _pair(
    url: str, builds: tuple[Builds, Builds] | None = None, **kwargs: Any
) -> tuple[ClusteredEngine, ClusteredEngine]:
    namespace = "kefu-test-" + uuid.uuid4().hex[:8]
    config = EngineConfig(offer_timeout_s=30.0)
    factories = builds or (Builds(), Builds())
    engines = tuple(
        ClusteredEngine(
            SqlStore(make_engine(url)),
            config=config,
            redis_url=REDIS,
            namespace=namespace,
            engine_factory=factory,
            **kwargs,
        )
        for factory in factories
    )
    for engine in engines:
        engine.recover()
    return engines[0], engines[1]


def _one_agent_online(
    url: str, builds: tuple[Builds, Builds], *, on: int
) -> tuple[int, ClusteredEngine, ClusteredEngine]:
    """A replica pair with one new agent put online through replica ``on`` (0 or 1) and already seen by the other."""
    (agent_id,) = _agents(url, 1)
    a, b = _pair(url, builds)
    via, other = (a, b) if on == 0 else (b, a)
    via.reload_agent(agent_id)
    via.set_status(agent_id, AgentStatus.online)
    other.agents_online()
    return agent_id, a, b


def _agents(url: str, n: int) -> list[int]:
    sessions = make_session_factory(make_engine(url))
    return [
        create_user(sessions, username=f"t{i}-{uuid.uuid4().hex[:6]}", password="cluster-pass", skills={"general": 5})
        for i in range(n)
    ]


def _snapshot(engine: RoutingEngine) -> dict[str, Any]:
    """What routing decisions depend on: live items, pending offers, agents' status and load."""
    return {
        "items": {c: (i.id, i.state.value, i.agent_id) for c, i in engine.items.items()},
        "offers": sorted((o.id, o.conversation_id, o.agent_id) for o in engine.offers.pending.values()),
        "agents": {
            a.id: (a.status.value, {k: n for k, n in a.load.items() if n}) for a in engine.agents.agents.values()
        },
        "assigned": {k: sorted(v) for k, v in engine._assigned.items() if v},
    }


def _from_database(url: str) -> dict[str, Any]:
    fresh = RoutingEngine(SqlStore(make_engine(url)), config=EngineConfig(offer_timeout_s=30.0))
    fresh.recover(decide=False)
    return _snapshot(fresh)


def test_state_changed_on_one_replica_is_seen_by_the_other(pg_url: str) -> None:
    sessions = make_session_factory(make_engine(pg_url))
    agent_id = create_user(sessions, username="a1", password="cluster-pass", skills={"general": 5})
    a, b = _pair(pg_url)
    b.reload_agent(agent_id)
    b.set_status(agent_id, AgentStatus.online)
    assert a.agents_online() == 1  # replica A rebuilt from the database before answering
    a.enqueue(conversation_id="conv-1", customer_id="c1", skill="general", priority=1)
    offers = b.offers_for(agent_id)
    assert [o.conversation_id for o in offers] == ["conv-1"]
    item = b.accept(offers[0].id, agent_id)
    assert item.state is ItemState.assigned
    assert [i.conversation_id for i in a.conversations_for(agent_id)] == ["conv-1"]
    a.close("conv-1", agent_id)
    assert b.conversations_for(agent_id) == []


def test_an_offer_is_claimed_once_across_replicas(pg_url: str) -> None:
    sessions = make_session_factory(make_engine(pg_url))
    agent_id = create_user(sessions, username="a2", password="cluster-pass", skills={"general": 5})
    a, b = _pair(pg_url)
    a.reload_agent(agent_id)
    a.set_status(agent_id, AgentStatus.online)
    for round_ in range(5):
        conv = f"race-{round_}"
        a.enqueue(conversation_id=conv, customer_id="c2", skill="general", priority=1)
        offer = next(o for o in b.offers_for(agent_id) if o.conversation_id == conv)
        outcomes: list[str] = []

        def accept(engine: ClusteredEngine, offer_id: str = offer.id, outcomes: list[str] = outcomes) -> None:
            try:
                engine.accept(offer_id, agent_id)
                outcomes.append("won")
            except RoutingError as exc:
                outcomes.append(type(exc).__name__)

        threads = [threading.Thread(target=accept, args=(e,)) for e in (a, b, a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert outcomes.count("won") == 1, outcomes
        b.close(conv, agent_id)


def test_replicas_taking_turns_do_not_reload_when_nothing_changed(pg_url: str) -> None:
    agent_ids = _agents(pg_url, 3)
    builds = (Builds(), Builds())
    a, b = _pair(pg_url, builds)
    for agent_id in agent_ids:
        a.reload_agent(agent_id)
        a.set_status(agent_id, AgentStatus.online)
    for n in range(12):  # 9 offered (capacity 3 each), 3 waiting
        (a, b)[n % 2].enqueue(conversation_id=f"turn-{n}", customer_id=f"c{n}", skill="general")
    b.agents_online()
    before = (builds[0].count, builds[1].count)
    for n in range(40):  # what the gateway and the timer loops do all the time, on both replicas in turn
        replica = (a, b)[n % 2]
        assert replica.agents_online() == 3
        assert replica.status_of(f"turn-{n % 12}").state in (ItemState.offered, ItemState.waiting)
        replica.offers_for(agent_ids[n % 3])
        replica.next_due()
        replica.tick()
    assert (builds[0].count, builds[1].count) == before  # no reload: nobody changed anything


def test_a_change_on_one_replica_is_replayed_on_the_other_without_a_reload(pg_url: str) -> None:
    builds = (Builds(), Builds())
    agent_id, a, b = _one_agent_online(pg_url, builds, on=1)
    before = (builds[0].count, builds[1].count)
    a.enqueue(conversation_id="inc-1", customer_id="c1", skill="general")
    (offer,) = b.offers_for(agent_id)
    assert b.accept(offer.id, agent_id).state is ItemState.assigned
    assert [i.conversation_id for i in a.conversations_for(agent_id)] == ["inc-1"]
    assert a.get_agent(agent_id).load == {"chat": 1}
    with pytest.raises(RoutingError) as late:  # a's copy knows the offer was accepted (not "unknown offer")
        a.accept(offer.id, agent_id)
    assert late.value.status == 409
    a.close("inc-1", agent_id)
    assert b.conversations_for(agent_id) == [] and b.get_agent(agent_id).load == {"chat": 0}
    assert (builds[0].count, builds[1].count) == before


def test_reads_take_no_cluster_lock_and_decisions_hold_it_briefly(pg_url: str) -> None:
    (agent_id,) = _agents(pg_url, 1)
    a, b = _pair(pg_url, lock_timeout_s=1.0)
    a.reload_agent(agent_id)
    a.set_status(agent_id, AgentStatus.online)
    for n in range(20):
        (a, b)[n % 2].enqueue(conversation_id=f"hold-{n}", customer_id=f"c{n}", skill="general")
    # another process holds the routing lock: reads still answer at once, from memory
    holder = redis.Redis.from_url(REDIS).lock(a.lock_name, timeout=5)
    assert holder.acquire(blocking=False)
    try:
        started = time.monotonic()
        assert b.agents_online() == 1 and b.status_of("hold-19").position >= 1
        assert len(a.offers_for(agent_id)) == 3 and a.next_due() is not None
        assert a.tick() == 0  # nothing due: no need for the lock
        assert time.monotonic() - started < 0.5
    finally:
        holder.release()
    assert max(a.stats.lock_hold_max_s, b.stats.lock_hold_max_s) < 0.5


def test_reloading_an_unchanged_agent_profile_takes_no_cluster_lock(pg_url: str) -> None:
    """Logging in and choosing a status re-read the agent's profile; when it is what the engines already hold, no
    decision is made (a shift of agents logging in at once queued for the lock: up to 340 ms in the load bench)."""
    (agent_id,) = _agents(pg_url, 1)
    a, b = _pair(pg_url, lock_timeout_s=1.0)
    a.reload_agent(agent_id)
    a.set_status(agent_id, AgentStatus.online)
    decided = a.stats.decisions + b.stats.decisions
    holder = redis.Redis.from_url(REDIS).lock(a.lock_name, timeout=5)
    assert holder.acquire(blocking=False)
    try:
        started = time.monotonic()
        assert b.reload_agent(agent_id).status is AgentStatus.online  # the other replica learns her status first
        assert a.reload_agent(agent_id).skills == {"general": 5}
        assert time.monotonic() - started < 0.5
    finally:
        holder.release()
    assert a.stats.decisions + b.stats.decisions == decided
    # a changed profile is still a decision, and both replicas see it
    with make_session_factory(make_engine(pg_url))() as session, session.begin():
        session.get(User, agent_id).skills = {"general": 5, "after_sales": 2}  # type: ignore[union-attr]
    assert b.reload_agent(agent_id).skills == {"general": 5, "after_sales": 2}
    assert a.get_agent(agent_id).skills == {"general": 5, "after_sales": 2}
    assert a.stats.decisions + b.stats.decisions == decided + 1
    assert a.get_agent(agent_id).available and b.get_agent(agent_id).load == a.get_agent(agent_id).load


def test_gap_in_the_change_log_falls_back_to_a_full_reload(pg_url: str) -> None:
    builds = (Builds(), Builds())
    agent_id, a, b = _one_agent_online(pg_url, builds, on=0)
    before = builds[1].count
    a.enqueue(conversation_id="gap-1", customer_id="c1", skill="general")
    redis.Redis.from_url(REDIS).delete(a.log_key)  # the entry is lost (trimmed, or Redis restarted without it)
    a.enqueue(conversation_id="gap-2", customer_id="c2", skill="general")
    assert sorted(o.conversation_id for o in b.offers_for(agent_id)) == ["gap-1", "gap-2"]
    assert builds[1].count == before + 1


def test_redis_losing_the_change_log_and_its_numbering_falls_back_to_a_full_reload(pg_url: str) -> None:
    builds = (Builds(), Builds())
    agent_id, a, b = _one_agent_online(pg_url, builds, on=0)
    before = builds[1].count
    namespace = a.log_key.rsplit(":routing:", 1)[0]
    redis.Redis.from_url(REDIS).delete(a.log_key, f"{namespace}:routing:seq")  # Redis restarted empty
    a.enqueue(conversation_id="reset-1", customer_id="c1", skill="general")  # numbered 1 again
    assert [o.conversation_id for o in b.offers_for(agent_id)] == ["reset-1"]
    assert builds[1].count == before + 1


def test_random_operations_on_both_replicas_keep_them_equal_to_the_database(pg_url: str) -> None:
    agent_ids = _agents(pg_url, 4)
    a, b = _pair(pg_url)
    rng = random.Random(9)
    done: Counter[str] = Counter()
    for agent_id in agent_ids:
        rng.choice((a, b)).reload_agent(agent_id)
    for step in range(150):
        replica = rng.choice((a, b))
        op = rng.random()
        try:
            if op < 0.15:
                replica.set_status(rng.choice(agent_ids), rng.choice(list(AgentStatus)))
                done["set_status"] += 1
            elif op < 0.45:
                replica.enqueue(conversation_id=f"r-{step}", customer_id=f"c{step}", skill="general")
                done["enqueue"] += 1
            else:
                replica.agents_online()  # catch up, then act on what this replica sees
                engine = replica.engine
                offers = list(engine.offers.pending.values())
                assigned = [i for i in engine.items.values() if i.state is ItemState.assigned]
                if op < 0.7 and offers:
                    offer = rng.choice(offers)
                    replica.accept(offer.id, offer.agent_id)
                    done["accept"] += 1
                elif op < 0.8 and offers:
                    offer = rng.choice(offers)
                    replica.reject(offer.id, offer.agent_id)
                    done["reject"] += 1
                elif op < 0.88 and assigned:
                    item = rng.choice(assigned)
                    assert item.agent_id is not None
                    replica.close(item.conversation_id, item.agent_id)
                    done["close"] += 1
                elif op < 0.95 and assigned:
                    item = rng.choice(assigned)
                    assert item.agent_id is not None
                    replica.transfer(item.conversation_id, item.agent_id, to_skill="general", note="转给同事")
                    done["transfer"] += 1
                elif engine.items:
                    replica.abandon(rng.choice(list(engine.items)))
                    done["abandon"] += 1
        except RoutingError:
            pass  # e.g. nobody online to enqueue for
        if step % 10 == 9:
            a.agents_online()
            b.agents_online()
            truth = _from_database(pg_url)
            assert _snapshot(a.engine) == truth, step
            assert _snapshot(b.engine) == truth, step
    assert all(done[op] >= 3 for op in ("set_status", "enqueue", "accept", "reject", "close", "transfer", "abandon"))


def test_event_subscribers_run_after_the_lock_is_released_and_may_read_the_engine(pg_url: str) -> None:
    # the gateway names the agent (get_agent) in the "assigned" event and writes to the database; the old design
    # ran it under the Redis lock, and the read waited for the lock its own thread held (lock timeout)
    (agent_id,) = _agents(pg_url, 1)
    a, _b = _pair(pg_url, lock_timeout_s=5.0)
    names: list[str] = []
    lock_free: list[bool] = []
    other = redis.Redis.from_url(REDIS)

    def on_event(event: RoutingEvent) -> None:
        if event.type != "assigned":
            return
        names.append(a.get_agent(agent_id).name)
        probe = other.lock(a.lock_name, timeout=5)
        lock_free.append(probe.acquire(blocking=False))
        if lock_free[-1]:
            probe.release()

    a.events.subscribe(on_event)
    a.reload_agent(agent_id)
    a.set_status(agent_id, AgentStatus.online)
    a.enqueue(conversation_id="sub-1", customer_id="c1", skill="general")
    (offer,) = a.offers_for(agent_id)
    started = time.monotonic()
    a.accept(offer.id, agent_id)
    assert time.monotonic() - started < 1.0
    assert len(names) == 1 and lock_free == [True]


def test_a_change_that_was_never_logged_is_picked_up_when_the_database_refuses_a_decision(pg_url: str) -> None:
    # replica A commits and dies before appending to the log: its engine is driven directly here, bypassing the log
    (agent_id,) = _agents(pg_url, 1)
    a, b = _pair(pg_url)
    a.reload_agent(agent_id)
    a.set_status(agent_id, AgentStatus.online)
    b.agents_online()
    a.engine.enqueue(conversation_id="lost-1", customer_id="c1", skill="general")
    with pytest.raises(IntegrityError):  # B does not know it and queues it again: the unique index says no
        b.enqueue(conversation_id="lost-1", customer_id="c1", skill="general")
    (offer,) = b.offers_for(agent_id)  # B reloaded from the database
    a.engine.accept(offer.id, agent_id)
    with pytest.raises(RoutingError):  # B still thinks the offer is pending; the SQL claim refuses it
        b.reject(offer.id, agent_id)
    assert [i.conversation_id for i in b.conversations_for(agent_id)] == ["lost-1"]


def test_a_decision_that_died_before_logging_makes_the_next_decider_reload_everything(pg_url: str) -> None:
    builds = (Builds(), Builds())
    agent_id, a, b = _one_agent_online(pg_url, builds, on=0)
    b_builds = builds[1].count

    def killed(change: Any, mark: str) -> None:  # the process dies after its commit, before the log append
        raise SystemExit("killed")

    a._append = killed  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        a.enqueue(conversation_id="unlogged-1", customer_id="c1", skill="general")
    assert redis.Redis.from_url(REDIS).get(a.mark_key) is not None  # the dead decision's mark stays
    assert b.offers_for(agent_id) == []  # nothing logged: B cannot know yet

    b.enqueue(conversation_id="next-1", customer_id="c2", skill="general")  # the next decision finds the mark
    assert b.stats.marks_found == 1 and builds[1].count == b_builds + 1
    assert sorted(o.conversation_id for o in b.offers_for(agent_id)) == ["next-1", "unlogged-1"]
    assert redis.Redis.from_url(REDIS).get(b.mark_key) is None

    del a._append  # "restarted" A, without the recover a real restart does: the logged full reload reaches it
    a_builds = builds[0].count
    assert sorted(o.conversation_id for o in a.offers_for(agent_id)) == ["next-1", "unlogged-1"]
    assert builds[0].count == a_builds + 1
    assert _snapshot(a.engine) == _snapshot(b.engine) == _from_database(pg_url)


def test_finished_decisions_leave_no_mark_and_cause_no_reload(pg_url: str) -> None:
    builds = (Builds(), Builds())
    agent_id, a, b = _one_agent_online(pg_url, builds, on=1)
    before = (builds[0].count, builds[1].count)
    a.enqueue(conversation_id="m-1", customer_id="c1", skill="general")
    b.tick()
    (offer,) = b.offers_for(agent_id)
    b.accept(offer.id, agent_id)
    a.set_status(agent_id, AgentStatus.away)
    assert redis.Redis.from_url(REDIS).get(a.mark_key) is None
    assert a.stats.marks_found == b.stats.marks_found == 0
    assert (builds[0].count, builds[1].count) == before


def test_the_routing_lock_is_taken_in_turns(pg_url: str) -> None:
    """A replica that just held the lock lets a waiting replica go first (no starvation of the other replica)."""
    a, b = _pair(pg_url)
    token = a._acquire_lock(time.monotonic() + 1)
    with pytest.raises(TimeoutError):  # B waits (and says so)
        b._acquire_lock(time.monotonic() + 0.05)
    a._release_script(keys=[a.lock_name], args=[token])
    with pytest.raises(TimeoutError):  # free, but A had it last and B is waiting: B's turn
        a._acquire_lock(time.monotonic() + 0.01)
    token = b._acquire_lock(time.monotonic() + 1)
    b._release_script(keys=[b.lock_name], args=[token])
    a._release_script(keys=[a.lock_name], args=[a._acquire_lock(time.monotonic() + 1)])  # nobody waiting: A again
