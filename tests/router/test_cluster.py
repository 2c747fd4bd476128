"""Two routing engines (as in two replicas) on one PostgreSQL database and one Redis: one consistent routing state."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from router.auth import create_user
from router.cluster import ClusteredEngine
from router.db import make_engine, make_session_factory
from router.migrate import upgrade
from router.routing.engine import EngineConfig
from router.routing.errors import RoutingError
from router.routing.models import AgentStatus, ItemState
from router.routing.store import SqlStore

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


def _pair(url: str) -> tuple[ClusteredEngine, ClusteredEngine]:
    namespace = "kefu-test-" + uuid.uuid4().hex[:8]
    config = EngineConfig(offer_timeout_s=30.0)
    engines = tuple(
        ClusteredEngine(SqlStore(make_engine(url)), config=config, redis_url=REDIS, namespace=namespace)
        for _ in range(2)
    )
    for engine in engines:
        engine.recover()
    return engines[0], engines[1]


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
