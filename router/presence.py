"""Agent presence from the console's connections: an agent is available for routing only while at least one of her
console WebSockets (or a declared API connection) is alive.

* :class:`LocalPresence` counts the connections of one process; :class:`RedisPresence` keeps every connection of every
  replica in Redis with an expiry (``presence_ttl_s``), refreshed by the replica holding it, so a socket on replica A
  counts for routing decisions on replica B, and the sockets of a replica that was killed stop counting once their
  expiry passes.
* :class:`PresenceMonitor` runs on every replica: an agent without a connection for ``presence_grace_s`` becomes
  unavailable (her pending offers are rescinded and routed to others at once); one holding conversations without a
  connection for ``presence_held_grace_s`` has them put back in the queue (``RoutingEngine.requeue_held``).  Both
  engine calls are idempotent, so replicas racing to apply the same decision do no harm.

Times are Unix seconds (``time.time``): the absence of an agent is measured from the moment her last connection
closed or expired, wherever that happened.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable, Collection
from functools import partial
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from router.routing.errors import RoutingError
from router.routing.models import RoutingEvent
from router.routing.protocol import RoutingEngineProtocol

log = logging.getLogger(__name__)
KEEP_CLOSED_S = 24 * 3600.0  # closed connections are remembered this long (their close time is the "absent since")


class PresenceTracker(Protocol):
    def opened(self, agent_id: int, connection_id: str, *, lease_s: float | None = None) -> None: ...
    def closed(self, agent_id: int, connection_id: str) -> None: ...
    def refresh(self) -> None: ...
    def absent_since(self, agent_ids: Collection[int]) -> dict[int, float | None]: ...


def is_connected(tracker: PresenceTracker, agent_id: int) -> bool:
    found = tracker.absent_since([agent_id])
    return agent_id in found and found[agent_id] is None


class LocalPresence:
    """Connections of this process only (a single router replica).  A console socket counts while it is open; an API
    connection (``lease_s``) counts until its lease ends or it is closed."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._until: dict[int, dict[str, float]] = {}  # agent -> connection -> alive until (inf while open)
        self._lock = threading.Lock()

    def opened(self, agent_id: int, connection_id: str, *, lease_s: float | None = None) -> None:
        with self._lock:
            until = math.inf if lease_s is None else self.clock() + lease_s
            self._until.setdefault(agent_id, {})[connection_id] = until

    def closed(self, agent_id: int, connection_id: str) -> None:
        with self._lock:
            conns = self._until.setdefault(agent_id, {})
            if connection_id in conns:
                conns[connection_id] = min(conns[connection_id], self.clock())

    def refresh(self) -> None:
        now = self.clock()
        with self._lock:
            for conns in self._until.values():
                for conn in [c for c, until in conns.items() if until < now - KEEP_CLOSED_S]:
                    del conns[conn]

    def absent_since(self, agent_ids: Collection[int]) -> dict[int, float | None]:
        now = self.clock()
        found: dict[int, float | None] = {}
        with self._lock:
            for agent_id in agent_ids:
                conns = self._until.get(agent_id)
                if conns:
                    last = max(conns.values())
                    found[agent_id] = None if last > now else last
        return found


class RedisPresence:
    """Connections of every replica, in one sorted set per agent (``<namespace>:presence:<agent id>``): member the
    connection id, score the time until which it counts.  This replica refreshes its open sockets' scores every
    ``ttl_s / 3``; a closed connection's score becomes its close time, so every replica knows since when the agent is
    gone.  A replica that dies stops refreshing: its sockets stop counting ``ttl_s`` later."""

    def __init__(self, redis_url: str, namespace: str = "kefu", *, ttl_s: float = 15.0) -> None:
        import redis

        self._redis = redis.Redis.from_url(redis_url)
        self._prefix = f"{namespace}:presence:"
        self.ttl_s = ttl_s
        self._local: dict[tuple[int, str], float | None] = {}  # this replica's open connections -> lease end
        self._lock = threading.Lock()

    def _key(self, agent_id: int) -> str:
        return f"{self._prefix}{agent_id}"

    def opened(self, agent_id: int, connection_id: str, *, lease_s: float | None = None) -> None:
        now = time.time()
        lease_end = None if lease_s is None else now + lease_s
        with self._lock:
            if lease_end is None:
                self._local[(agent_id, connection_id)] = None  # a socket: refreshed while open
            else:
                self._local.pop((agent_id, connection_id), None)  # an API lease: counts until it ends, anywhere
        self._write(agent_id, connection_id, now + self.ttl_s if lease_end is None else lease_end)

    def closed(self, agent_id: int, connection_id: str) -> None:
        key = self._key(agent_id)
        with self._lock:  # not interleaved with a refresh that would count the socket again
            self._local.pop((agent_id, connection_id), None)
            pipe = self._redis.pipeline(transaction=False)
            pipe.zadd(key, {connection_id: time.time()}, xx=True)
            pipe.zremrangebyscore(key, "-inf", time.time() - KEEP_CLOSED_S)
            pipe.execute()

    def _write(self, agent_id: int, connection_id: str, until: float) -> None:
        key = self._key(agent_id)
        pipe = self._redis.pipeline(transaction=False)
        pipe.zadd(key, {connection_id: until})
        pipe.expire(key, int(KEEP_CLOSED_S))
        pipe.execute()

    def refresh(self) -> None:
        """Keep this replica's open sockets counted for another ``ttl_s``."""
        with self._lock:
            if not self._local:
                return
            until = time.time() + self.ttl_s
            pipe = self._redis.pipeline(transaction=False)
            for agent_id, connection_id in self._local:
                pipe.zadd(self._key(agent_id), {connection_id: until}, gt=True)
            pipe.execute()

    def absent_since(self, agent_ids: Collection[int]) -> dict[int, float | None]:
        ids = list(agent_ids)
        if not ids:
            return {}
        pipe = self._redis.pipeline(transaction=False)
        for agent_id in ids:
            pipe.zrevrange(self._key(agent_id), 0, 0, withscores=True)
        now = time.time()
        found: dict[int, float | None] = {}
        for agent_id, top in zip(ids, pipe.execute(), strict=True):
            if top:
                last = float(top[0][1])
                found[agent_id] = None if last > now else last
        return found

    def close(self) -> None:
        self._redis.close()


class PresenceMonitor:
    """Applies presence to routing: see the module doc.  ``check`` is synchronous (it calls the engine and Redis);
    run it in a worker thread."""

    def __init__(
        self,
        engine: RoutingEngineProtocol,
        tracker: PresenceTracker,
        *,
        grace_s: float,
        held_grace_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.tracker = tracker
        self.grace_s = grace_s
        self.held_grace_s = held_grace_s
        self.clock = clock
        self._unseen_since: dict[int, float] = {}  # agents no connection was ever recorded for: first noticed

    def check(self) -> list[tuple[str, int]]:
        """One pass over the agents who matter (online, marked disconnected, or holding conversations); returns what
        it did, as (action, agent id) pairs."""
        now = self.clock()
        held = self.engine.held_by()
        agents = [a for a in self.engine.agents_snapshot() if a.status.value == "online" or not a.connected
                  or a.id in held]
        absent = self.tracker.absent_since([a.id for a in agents])
        done: list[tuple[str, int]] = []
        for agent in agents:
            if agent.id in absent and absent[agent.id] is None:  # connected
                self._unseen_since.pop(agent.id, None)
                if not agent.connected:
                    self._apply(done, "connected", agent.id, partial(self.engine.set_presence, agent.id, True))
                continue
            since = absent.get(agent.id)
            if since is None:
                since = self._unseen_since.setdefault(agent.id, now)
            gone = now - since
            if agent.connected and gone >= self.grace_s:
                self._apply(done, "disconnected", agent.id, partial(self.engine.set_presence, agent.id, False))
            if held.get(agent.id) and gone >= self.held_grace_s:
                self._apply(done, "requeued", agent.id, partial(self.engine.requeue_held, agent.id))
        return done

    @staticmethod
    def _apply(done: list[tuple[str, int]], action: str, agent_id: int, call: Callable[[], Any]) -> None:
        try:
            call()
        except RoutingError as exc:  # e.g. the agent was disabled meanwhile: nothing to do
            log.info("presence: %s for agent %s skipped: %s", action, agent_id, exc)
            return
        log.info("presence: agent %s %s", agent_id, action)
        done.append((action, agent_id))


def record_presence_changes(engine: RoutingEngineProtocol, sessions: sessionmaker[Session]) -> Callable[[], None]:
    """Record in the agents' status history (occupancy in the per-agent report) that an agent who chose "online"
    stopped or started being available because of her connection.  Replicas applying the same change record it
    twice: the report ignores a repeated status."""
    from router.db import session_scope
    from router.reports.agents import record_status

    def on_event(event: RoutingEvent) -> None:
        if event.type != "presence" or event.agent_id is None or event.data.get("status") != "online":
            return
        status = "online" if event.data.get("connected") else "away"
        try:
            with session_scope(sessions) as session:
                record_status(session, agent_id=event.agent_id, status=status, at=time.time())
        except Exception:  # the report loses a change; routing must not fail for it
            log.warning("could not record agent %s's presence change", event.agent_id, exc_info=True)

    unsubscribe: Callable[[], None] = engine.events.subscribe(on_event)
    return unsubscribe


async def presence_loop(monitor: PresenceMonitor, interval_s: float, refresh_s: float) -> None:
    """Refresh this replica's connections in the shared presence and apply presence to routing, every
    ``interval_s``.  Failures are logged and retried (a Redis or database hiccup must not end presence for good)."""
    refreshed = 0.0
    while True:
        try:
            if time.monotonic() - refreshed >= refresh_s:
                await run_in_threadpool(monitor.tracker.refresh)
                refreshed = time.monotonic()
            await run_in_threadpool(monitor.check)
        except Exception:
            log.exception("presence check failed; retrying")
        await asyncio.sleep(interval_s)
