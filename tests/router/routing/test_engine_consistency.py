"""The engine's memory never runs ahead of the database, and its subscribers run with routing unlocked.

* a commit the database refuses (a real trigger aborting the insert) leaves memory as the database has it;
* events go out after the engine lock is released: a subscriber that writes to the database (the gateway) does not
  hold up other routing calls;
* request threads read offers and agents as copies taken under the lock.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from router.routing.models import ItemState, RoutingEvent
from tests.router.routing.helpers import VirtualClock
from tests.router.routing.test_routing_store import add_agents, new_engine

FAIL_ASSIGNMENTS = {
    "sqlite": ["CREATE TRIGGER refuse BEFORE INSERT ON assignments BEGIN SELECT RAISE(ABORT, 'disk full'); END"],
    "postgresql": [
        "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER refuse BEFORE INSERT ON assignments FOR EACH ROW EXECUTE FUNCTION refuse()",
    ],
}
DROP = {"sqlite": ["DROP TRIGGER refuse"], "postgresql": ["DROP TRIGGER refuse ON assignments", "DROP FUNCTION refuse"]}


def _sql(db: Engine, statements: list[str]) -> None:
    with db.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def test_a_refused_commit_leaves_memory_as_the_database_has_it(migrated: Engine, clock: VirtualClock) -> None:
    [agent] = add_agents(migrated, 1)
    engine = new_engine(migrated, clock, offer_timeout_s=30.0)
    engine.enqueue(conversation_id="c1", customer_id="u1", skill="general")
    [offer] = engine.offers_for(agent)
    seen: list[str] = []
    engine.events.subscribe(lambda e: seen.append(e.type))
    dialect = migrated.dialect.name
    _sql(migrated, FAIL_ASSIGNMENTS[dialect])
    with pytest.raises(DBAPIError):
        engine.accept(offer.id, agent)
    assert seen == []  # nothing happened, so nothing is announced
    assert engine.items["c1"].state is ItemState.offered and engine.items["c1"].agent_id is None
    assert engine.conversations_for(agent) == [] and [o.id for o in engine.offers_for(agent)] == [offer.id]
    _sql(migrated, DROP[dialect])
    assert engine.accept(offer.id, agent).state is ItemState.assigned
    assert seen == ["assigned"]


def test_subscribers_run_with_the_engine_unlocked(migrated: Engine, clock: VirtualClock) -> None:
    [agent] = add_agents(migrated, 1)
    engine = new_engine(migrated, clock)
    reads: list[bool] = []

    def subscriber(event: RoutingEvent) -> None:  # e.g. the gateway writing the new owner to the database
        other = threading.Thread(target=engine.overview)  # another request thread reading routing state
        other.start()
        other.join(2.0)
        reads.append(not other.is_alive())

    engine.events.subscribe(subscriber)
    engine.enqueue(conversation_id="c1", customer_id="u1", skill="general")
    [offer] = engine.offers_for(agent)
    engine.accept(offer.id, agent)
    assert reads and all(reads), reads


def test_snapshots_are_copies(migrated: Engine, clock: VirtualClock) -> None:
    [agent] = add_agents(migrated, 1)
    engine = new_engine(migrated, clock)
    engine.enqueue(conversation_id="c1", customer_id="u1", skill="general")
    [(offer, item)] = engine.offers_with_items()
    assert item is not None and item.conversation_id == "c1" and offer.agent_id == agent
    [me] = engine.agents_snapshot()
    me.load["chat"] = 99
    assert engine.get_agent(agent).load["chat"] == 1
    item.state = ItemState.closed
    assert engine.items["c1"].state is ItemState.offered
