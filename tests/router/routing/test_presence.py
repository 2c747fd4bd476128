"""Presence from the console connection (router/presence.py): the engine's presence operations, the monitor's graces
on a virtual clock, the agent API on a real app (load counts only accepted conversations; a stale accept is a 409;
closing the last socket re-routes a pending offer), races that must end with exactly one owner, and two replicas
sharing PostgreSQL + Redis (a socket on one counts on the other; a killed replica's agents go away)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from starlette.websockets import WebSocketDisconnect

from router.app import create_app
from router.auth import create_user
from router.cluster import ClusteredEngine
from router.db import make_engine, make_session_factory
from router.migrate import upgrade
from router.presence import LocalPresence, PresenceMonitor, RedisPresence
from router.routing.engine import EngineConfig, RoutingEngine
from router.routing.errors import RoutingError
from router.routing.models import AgentStatus, ItemState, RoutingEvent
from router.routing.store import SqlStore
from router.routing.tables import User
from router.settings import Settings
from router.supervision.models import AgentStatusChange
from tests.router.routing.helpers import VirtualClock, agent

PASSWORD = "correct-horse-1"
REDIS = "redis://127.0.0.1:6379/0"


def _engine(clock: VirtualClock, events: list[RoutingEvent] | None = None, **config: Any) -> RoutingEngine:
    engine = RoutingEngine(config=EngineConfig(offer_timeout_s=30.0, **config), clock=clock)
    if events is not None:
        engine.events.subscribe(events.append)
    engine.upsert_agent(agent(1, {"general": 5}, capacity=2, idle_since=0.0))  # the best: offered first
    engine.upsert_agent(agent(2, {"general": 3}, capacity=2, idle_since=10.0))
    return engine


def _enqueue(engine: RoutingEngine, cid: str, priority: int = 4) -> None:
    engine.enqueue(conversation_id=cid, customer_id=f"cust-{cid}", skill="general", priority=priority,
                   context={"channel": "web"})


# ---------------------------------------------------------------------------------------------- engine
def test_losing_the_connection_rescinds_pending_offers_and_reroutes_them(clock: VirtualClock) -> None:
    events: list[RoutingEvent] = []
    engine = _engine(clock, events)
    _enqueue(engine, "c1")
    (offer,) = engine.offers_for(1)
    engine.set_presence(1, False)
    assert engine.get_agent(1).status is AgentStatus.online  # her choice is kept ...
    assert not engine.get_agent(1).available and engine.agents_online() == 1  # ... but she gets nothing
    assert engine.offers_for(1) == [] and [o.conversation_id for o in engine.offers_for(2)] == ["c1"]
    rescinded = next(e for e in events if e.type == "offer_rescinded")
    assert rescinded.agent_id == 1 and rescinded.data == {"offer_id": offer.id, "reason": "agent_disconnected"}
    _enqueue(engine, "c2")
    assert sorted(o.conversation_id for o in engine.offers_for(2)) == ["c1", "c2"] and engine.offers_for(1) == []
    engine.set_presence(1, True)  # back: available again with her chosen status, and gets the waiting work
    assert engine.get_agent(1).available and engine.agents_online() == 2
    before = len(events)
    engine.set_presence(1, True)  # no change: nothing happens, nothing is emitted
    assert len(events) == before


def test_requeue_held_keeps_priority_history_and_queue_time(clock: VirtualClock) -> None:
    events: list[RoutingEvent] = []
    engine = _engine(clock, events)
    _enqueue(engine, "c1", priority=6)
    enqueued_at = engine.items["c1"].enqueued_at
    (offer,) = engine.offers_for(1)
    engine.accept(offer.id, 1)
    engine.set_status(2, AgentStatus.away)
    clock.advance(300)
    engine.set_presence(1, False)
    assert engine.conversations_for(1)[0].conversation_id == "c1"  # the short grace leaves held conversations
    (fresh,) = engine.requeue_held(1)
    assert engine.conversations_for(1) == [] and engine.get_agent(1).load.get("chat", 0) == 0
    assert fresh.state is ItemState.waiting and fresh.priority == 6 and fresh.enqueued_at == enqueued_at
    assert fresh.reason == "agent_lost" and fresh.context == {"channel": "web"}
    moved = next(e for e in events if e.type == "transferred")
    assert moved.agent_id == 1 and moved.data["reason"] == "agent_lost"
    engine.set_status(2, AgentStatus.online)  # the next agent gets it at once
    (again,) = engine.offers_for(2)
    assert again.conversation_id == "c1"
    assert engine.requeue_held(1) == []  # nothing left: idempotent


# ---------------------------------------------------------------------------------------------- monitor
def test_monitor_applies_the_graces(clock: VirtualClock) -> None:
    engine = _engine(clock)
    presence = LocalPresence(clock=clock)
    monitor = PresenceMonitor(engine, presence, grace_s=10.0, held_grace_s=60.0, clock=clock)
    presence.opened(1, "tab-1")
    presence.opened(1, "tab-2")
    presence.opened(2, "tab-b")
    _enqueue(engine, "held")
    engine.accept(engine.offers_for(1)[0].id, 1)
    _enqueue(engine, "pending")
    assert [o.conversation_id for o in engine.offers_for(1)] == ["pending"]
    assert monitor.check() == []
    presence.closed(1, "tab-1")  # one tab of two closed: still connected
    clock.advance(30)
    assert monitor.check() == [] and engine.get_agent(1).available
    presence.closed(1, "tab-2")  # the last one
    clock.advance(9.9)
    assert monitor.check() == [] and engine.get_agent(1).available
    clock.advance(0.1)
    assert monitor.check() == [("disconnected", 1)]
    assert engine.offers_for(1) == [] and [o.conversation_id for o in engine.offers_for(2)] == ["pending"]
    assert [i.conversation_id for i in engine.conversations_for(1)] == ["held"]
    clock.advance(49.9)
    assert monitor.check() == []
    clock.advance(0.1)
    assert monitor.check() == [("requeued", 1)]
    assert engine.conversations_for(1) == [] and engine.items["held"].state is ItemState.offered  # to agent 2
    assert monitor.check() == []
    presence.opened(1, "tab-3")  # she comes back
    assert monitor.check() == [("connected", 1)] and engine.get_agent(1).available


def test_monitor_counts_an_agent_never_connected_from_when_it_first_saw_her(clock: VirtualClock) -> None:
    engine = _engine(clock)  # both "online" (as a database left them), no connection recorded
    presence = LocalPresence(clock=clock)
    presence.opened(2, "tab-b")
    monitor = PresenceMonitor(engine, presence, grace_s=10.0, held_grace_s=60.0, clock=clock)
    assert monitor.check() == []
    clock.advance(10)
    assert monitor.check() == [("disconnected", 1)]
    assert engine.agents_online() == 1


def test_an_api_connection_counts_until_its_lease_ends(clock: VirtualClock) -> None:
    engine = _engine(clock)
    presence = LocalPresence(clock=clock)
    presence.opened(1, "api", lease_s=100.0)
    presence.opened(2, "tab-b")
    monitor = PresenceMonitor(engine, presence, grace_s=10.0, held_grace_s=60.0, clock=clock)
    clock.advance(99)
    assert monitor.check() == []
    clock.advance(11)
    assert monitor.check() == [("disconnected", 1)]


# ---------------------------------------------------------------------------------------------- races
def _sql_pair(tmp_path: Path) -> tuple[RoutingEngine, list[int]]:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    upgrade(url)
    sessions = make_session_factory(make_engine(url))
    ids = [create_user(sessions, username=f"a{i}", password=PASSWORD, skills={"general": 5}) for i in range(2)]
    engine = RoutingEngine(SqlStore(make_engine(url)), config=EngineConfig(offer_timeout_s=30.0))
    engine.recover()
    for agent_id in ids:
        engine.set_status(agent_id, AgentStatus.online)
    return engine, ids


def test_accept_while_disconnecting_ends_with_exactly_one_owner(tmp_path: Path) -> None:
    engine, (a, b) = _sql_pair(tmp_path)
    engine.set_status(b, AgentStatus.away)
    outcomes = []
    for round_ in range(20):
        engine.set_presence(a, True)
        cid = f"race-{round_}"
        engine.enqueue(conversation_id=cid, customer_id=cid, skill="general")
        (offer,) = [o for o in engine.offers_for(a) if o.conversation_id == cid]
        engine.set_status(b, AgentStatus.online)  # someone to re-route to
        barrier = threading.Barrier(2)
        errors: list[Exception] = []

        def accept(
            offer_id: str = offer.id, barrier: threading.Barrier = barrier, errors: list[Exception] = errors
        ) -> None:
            barrier.wait()
            try:
                engine.accept(offer_id, a)
            except RoutingError as exc:
                errors.append(exc)

        def vanish(barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            engine.set_presence(a, False)

        threads = [threading.Thread(target=accept), threading.Thread(target=vanish)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        item = engine.items[cid]
        to_b = [o for o in engine.offers_for(b) if o.conversation_id == cid]
        if errors:  # the rescind won: the accept was told so (409), and the conversation went to b
            assert errors[0].status == 409 and item.state is ItemState.offered and to_b
            engine.accept(to_b[0].id, b)
            engine.close(cid, b)
            outcomes.append("rescinded")
        else:  # the accept won: a holds it, nobody else was offered it
            assert item.state is ItemState.assigned and item.agent_id == a and not to_b
            engine.close(cid, a)
            outcomes.append("accepted")
        assert cid not in engine.items
        engine.set_status(b, AgentStatus.away)
    assert len(outcomes) == 20


def test_a_stale_offer_accepted_after_rescind_is_a_409(tmp_path: Path) -> None:
    engine, (a, b) = _sql_pair(tmp_path)
    engine.set_status(b, AgentStatus.away)
    engine.enqueue(conversation_id="c", customer_id="c", skill="general")
    (offer,) = engine.offers_for(a)
    engine.set_presence(a, False)
    with pytest.raises(RoutingError) as refused:
        engine.accept(offer.id, a)
    assert refused.value.status == 409 and "失效" in refused.value.message_zh
    with pytest.raises(RoutingError) as not_hers:  # and nobody else can take an offer made to someone else
        engine.accept(offer.id, b)
    assert refused.value.status in (403, 409) and not_hers.value.status in (403, 409)


# ---------------------------------------------------------------------------------------------- the API
@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'api.db'}",
        secret_key="test-secret-key-for-kefu-router-tests-0001",
        offer_timeout_s=60.0,
        presence_grace_s=1.0,
        presence_held_grace_s=60.0,
        presence_check_s=0.1,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    db = make_engine(settings.database_url)
    upgrade(engine=db)
    sessions = make_session_factory(db)
    for username, skills in (("wang", {"general": 5}), ("li", {"general": 3})):
        create_user(sessions, username=username, password=PASSWORD, display_name=username, skills=skills,
                    capacity={"chat": 3})
    create_user(sessions, username="boss", password=PASSWORD, display_name="主管", role="supervisor",
                capacity={"chat": 0})
    with sessions.begin() as s:  # wang left her status "online" in an earlier session
        s.execute(update(User).where(User.username == "wang").values(status="online"))
    db.dispose()
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _login(client: TestClient, username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@contextmanager
def _console(client: TestClient, auth: dict[str, str]) -> Iterator[Any]:
    with client.websocket_connect("/api/v1/agents/ws") as ws:
        ws.send_json({"type": "auth", "token": auth["Authorization"].split()[1]})
        assert ws.receive_json()["type"] == "hello"
        yield ws


def _eventually(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s")


def test_status_counts_only_with_a_connection_and_load_only_accepted(client: TestClient) -> None:
    wang, boss = _login(client, "wang"), _login(client, "boss")
    me = client.get("/api/v1/agents/me", headers=wang).json()
    assert me["status"] == "online" and me["connected"] is False and me["available"] is False  # no console open
    handoff = {"conversation_id": "c1", "customer_id": "u1", "skill": "general"}
    assert client.post("/api/v1/routing/handoffs", json=handoff, headers=boss).status_code == 409  # nobody online
    with _console(client, wang):
        me = client.get("/api/v1/agents/me", headers=wang).json()
        assert me["connected"] is True and me["available"] is True  # her last choice, now that a console is open
        assert client.post("/api/v1/routing/handoffs", json=handoff, headers=boss).json()["state"] == "offered"
        me = client.get("/api/v1/agents/me", headers=wang).json()
        assert me["load"] == {} and me["offers"] == {"chat": 1}  # a pending offer is not load
        (offer,) = client.get("/api/v1/agents/me/offers", headers=wang).json()
        client.post(f"/api/v1/agents/offers/{offer['id']}/accept", headers=wang)
        me = client.get("/api/v1/agents/me", headers=wang).json()
        assert me["load"] == {"chat": 1} and me["offers"] == {}
        away = client.put("/api/v1/agents/me/status", json={"status": "away"}, headers=wang).json()
        assert away["status"] == "away" and away["available"] is False and away["connected"] is True


def test_closing_the_last_console_reroutes_the_pending_offer(client: TestClient, settings: Settings) -> None:
    wang, li, boss = _login(client, "wang"), _login(client, "li"), _login(client, "boss")
    with _console(client, li) as li_ws:
        client.put("/api/v1/agents/me/status", json={"status": "online"}, headers=li)
        with _console(client, wang):
            body = {"conversation_id": "c1", "customer_id": "u1", "skill": "general"}
            client.post("/api/v1/routing/handoffs", json=body, headers=boss)
            (offer,) = client.get("/api/v1/agents/me/offers", headers=wang).json()  # the better skilled one
        closed_at = time.monotonic()
        assert client.get("/api/v1/agents/me", headers=wang).json()["available"] is True  # within the grace
        pushed = li_ws.receive_json()
        while pushed["type"] != "offer":
            pushed = li_ws.receive_json()
        assert pushed["conversation_id"] == "c1" and time.monotonic() - closed_at < 5.0
        assert client.get("/api/v1/agents/me", headers=wang).json()["available"] is False
        stale = client.post(f"/api/v1/agents/offers/{offer['id']}/accept", headers=wang)
        assert stale.status_code == 409 and stale.json()["message"] == "该会话邀请已失效（已被接入、拒绝或超时）。"
        # her time online in the report ends with her connection (occupancy)
        wang_id = client.get("/api/v1/agents/me", headers=wang).json()["id"]
        with make_session_factory(make_engine(settings.database_url))() as s:
            changes = s.scalars(
                select(AgentStatusChange.status).where(AgentStatusChange.agent_id == wang_id)
                .order_by(AgentStatusChange.id)
            ).all()
        assert changes[-1] == "away", changes
        # putting herself online without a console does not make her routable again
        back = client.put("/api/v1/agents/me/status", json={"status": "online"}, headers=wang).json()
        assert back["status"] == "online" and back["available"] is False
        # an API client that declares its connection is
        api = client.put("/api/v1/agents/me/status", json={"status": "online", "connection": "api"}, headers=wang)
        assert api.json()["available"] is True


def test_a_silent_socket_is_closed(settings: Settings, tmp_path: Path) -> None:
    quiet = settings.model_copy(update={"agent_socket_idle_s": 0.3})
    db = make_engine(quiet.database_url)
    upgrade(engine=db)
    create_user(make_session_factory(db), username="wang", password=PASSWORD, skills={"general": 5})
    db.dispose()
    with TestClient(create_app(quiet)) as client, _console(client, _login(client, "wang")) as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:  # pushes (e.g. her presence) until the server gives up on the silent socket
                ws.receive_json()
        assert closed.value.code == 4408


# ---------------------------------------------------------------------------------------------- two replicas
@pytest.mark.pg
def test_presence_is_shared_by_replicas_and_a_killed_replica_lets_go(pg_url: str) -> None:
    upgrade(pg_url)
    sessions = make_session_factory(make_engine(pg_url))
    a_id = create_user(sessions, username="amy", password=PASSWORD, skills={"general": 5})
    b_id = create_user(sessions, username="bob", password=PASSWORD, skills={"general": 3})
    namespace = "kefu-presence-" + uuid.uuid4().hex[:8]
    replicas = [
        ClusteredEngine(SqlStore(make_engine(pg_url)), config=EngineConfig(offer_timeout_s=60.0), redis_url=REDIS,
                        namespace=namespace)
        for _ in range(2)
    ]
    trackers = [RedisPresence(REDIS, namespace, ttl_s=0.8) for _ in range(2)]
    monitors = [PresenceMonitor(r, t, grace_s=0.5, held_grace_s=30.0) for r, t in zip(replicas, trackers, strict=True)]
    one, two = replicas
    try:
        for replica in replicas:
            replica.recover()
        for agent_id in (a_id, b_id):
            one.reload_agent(agent_id)
            one.set_status(agent_id, AgentStatus.online)
        trackers[0].opened(a_id, "amy-tab")  # amy's console is on replica one ...
        trackers[1].opened(b_id, "bob-tab")  # ... bob's on replica two
        for _ in range(3):  # both replicas' monitors agree that both are connected: nothing to do
            assert monitors[0].check() == [] and monitors[1].check() == []
            trackers[0].refresh()
            trackers[1].refresh()
            time.sleep(0.3)
        two.enqueue(conversation_id="c1", customer_id="u1", skill="general")  # decided on replica two
        assert [o.conversation_id for o in two.offers_for(a_id)] == ["c1"]  # amy counts there
        # replica one is killed: its sockets are no longer refreshed; replica two lets amy go after ttl + grace
        killed_at = time.monotonic()

        def rerouted() -> bool:
            trackers[1].refresh()
            monitors[1].check()
            return any(o.conversation_id == "c1" for o in two.offers_for(b_id))

        _eventually(rerouted, timeout=10.0)
        assert 0.5 <= time.monotonic() - killed_at < 5.0  # not before the grace
        assert two.offers_for(a_id) == [] and not two.get_agent(a_id).available and two.get_agent(b_id).available
        # amy's console reconnects through replica two: she is available again there
        trackers[1].opened(a_id, "amy-tab-2")
        assert ("connected", a_id) in monitors[1].check() and two.get_agent(a_id).available
    finally:
        for tracker in trackers:
            tracker.close()


@pytest.mark.pg
def test_two_apps_share_presence_through_redis(pg_url: str) -> None:
    """Two router apps (replicas) on one PostgreSQL database and one Redis: amy's console socket on replica A makes
    her routable for a hand-off decided on replica B; when she closes it, replica B's monitor re-routes her pending
    offer to bob (whose console is on replica B) after the grace."""
    upgrade(pg_url)
    sessions = make_session_factory(make_engine(pg_url))
    create_user(sessions, username="amy", password=PASSWORD, skills={"general": 5})
    create_user(sessions, username="bob", password=PASSWORD, skills={"general": 3})
    create_user(sessions, username="boss", password=PASSWORD, role="supervisor", capacity={"chat": 0})
    replica = Settings(
        database_url=pg_url,
        redis_url=REDIS,
        redis_namespace="kefu-presence-apps-" + uuid.uuid4().hex[:8],
        secret_key="test-secret-key-for-kefu-router-tests-0001",
        offer_timeout_s=60.0,
        presence_grace_s=1.0,
        presence_ttl_s=1.0,
        presence_check_s=0.1,
        operations_background=False,
    )
    with TestClient(create_app(replica)) as a, TestClient(create_app(replica)) as b:
        amy, bob, boss = _login(a, "amy"), _login(b, "bob"), _login(b, "boss")
        with _console(b, bob) as bob_ws:
            b.put("/api/v1/agents/me/status", json={"status": "online"}, headers=bob)
            with _console(a, amy):
                a.put("/api/v1/agents/me/status", json={"status": "online"}, headers=amy)
                assert _eventually(lambda: b.get("/api/v1/agents/me", headers=amy).json()["available"])
                body = {"conversation_id": "c1", "customer_id": "u1", "skill": "general"}
                assert b.post("/api/v1/routing/handoffs", json=body, headers=boss).json()["state"] == "offered"
                assert [o["conversation_id"] for o in b.get("/api/v1/agents/me/offers", headers=amy).json()] == ["c1"]
            closed_at = time.monotonic()
            pushed = bob_ws.receive_json()
            while pushed["type"] != "offer":
                pushed = bob_ws.receive_json()
            assert pushed["conversation_id"] == "c1" and time.monotonic() - closed_at < 5.0
            for replica_client in (a, b):
                me = replica_client.get("/api/v1/agents/me", headers=amy).json()
                assert _eventually(lambda c=replica_client: not c.get("/api/v1/agents/me", headers=amy).json()[
                    "available"]) and me["status"] == "online"


def test_the_offer_card_is_masked_wherever_it_goes() -> None:
    """The shopper's last message on the offer card is personal data: masked in the API and in the pushed event."""
    from router.api.schemas import AgentOffer
    from router.identity.pii import mask_agent_event
    from router.routing.models import Offer, WorkItem

    context = {"channel": "app", "vip": True, "mood": "angry", "last_message": "快递没到，我电话13812345678，急！"}
    item = WorkItem(id="i", conversation_id="c", customer_id="u", channel="chat", skill="logistics", priority=7,
                    enqueued_at=100.0, reason="angry", context=context)
    card = AgentOffer.of(Offer(id="o", item_id="i", conversation_id="c", agent_id=1, created_at=130.0,
                               deadline=160.0), item)
    assert card.channel == "app" and card.vip is True and card.mood == "angry" and card.waited_s == 30.0
    assert card.last_message and "13812345678" not in card.last_message and card.last_message.startswith("快递没到")
    pushed = mask_agent_event({"type": "offer", "offer_id": "o", "context": context})
    assert "13812345678" not in pushed["context"]["last_message"] and "13812345678" in context["last_message"]
