"""Several router replicas on one PostgreSQL + Redis: a shared routing state and agent push across processes.

Each replica keeps the routing engine's fast in-memory indexes, but the database is the source of truth:

* every engine call runs under one Redis lock, so two replicas never decide at the same time;
* a Redis counter names the version of the routing state; a replica whose copy is older than the counter rebuilds
  its engine from the database (``recover``) before it acts, and bumps the counter after any change;
* claims stay atomic in SQL as well (conditional UPDATE of the offer row), so even a lock lost to a timeout cannot
  let two agents hold one conversation.

Agent events go through Redis pub/sub (:class:`RedisHub`), so an offer made on replica A reaches the agent whose
WebSocket is on replica B.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from router.hub import LocalHub
from router.redis_fanout import RedisSubscription
from router.routing.engine import EngineConfig, EventBus, RoutingEngine
from router.routing.store import RoutingStore

log = logging.getLogger(__name__)

# engine methods that change routing state (the others only read it)
MUTATING = frozenset(
    {
        "enqueue",
        "accept",
        "reject",
        "rescind",
        "close",
        "abandon",
        "transfer",
        "set_status",
        "upsert_agent",
        "reload_agent",
        "tick",
        "recover",
    }
)


class ClusteredEngine:
    """A :class:`RoutingEngine` stand-in that stays consistent with the other replicas (see the module doc)."""

    def __init__(
        self,
        store: RoutingStore,
        *,
        config: EngineConfig,
        redis_url: str,
        namespace: str = "kefu",
        lock_timeout_s: float = 10.0,
        engine_factory: Callable[[RoutingStore, EngineConfig], RoutingEngine] | None = None,
    ) -> None:
        import redis

        self._store = store
        self._config = config
        self._factory = engine_factory or (lambda s, c: RoutingEngine(s, config=c))
        self._redis = redis.Redis.from_url(redis_url)
        self._version_key = f"{namespace}:routing:version"
        self._lock = self._redis.lock(
            f"{namespace}:routing:lock", timeout=lock_timeout_s, blocking_timeout=lock_timeout_s * 2
        )
        self._local = threading.RLock()
        self.events = EventBus()
        self._engine = self._new_engine()
        self._version: int | None = None

    def _new_engine(self) -> RoutingEngine:
        engine = self._factory(self._store, self._config)
        engine.events = self.events  # subscribers (hub, gateway) survive rebuilds
        return engine

    @property
    def engine(self) -> RoutingEngine:
        return self._engine

    def _sync(self) -> None:
        current = int(self._redis.get(self._version_key) or 0)
        if self._version is None or current != self._version:
            engine = self._new_engine()
            engine.recover()
            self._engine = engine
            self._version = int(self._redis.incr(self._version_key))  # recover may have timed offers out

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        with self._local:
            if not self._lock.acquire():
                raise TimeoutError("routing lock not acquired")
            try:
                if name == "recover":  # a rebuild from the database is exactly what recover means here
                    self._version = None
                    self._sync()
                    return None
                self._sync()
                result = getattr(self._engine, name)(*args, **kwargs)
                # a tick that fired nothing changed nothing: don't make the other replicas rebuild for it
                if name in MUTATING and (name != "tick" or result):
                    self._version = int(self._redis.incr(self._version_key))
                return result
            finally:
                with contextlib.suppress(Exception):  # lock expired: the SQL claims still guard correctness
                    self._lock.release()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._engine, name)
        if not callable(attr) or name.startswith("_"):
            return attr
        return lambda *args, **kwargs: self._call(name, *args, **kwargs)


class RedisHub(LocalHub):
    """Agent push across replicas: ``send_to_agent`` publishes; every replica delivers to the sockets it holds."""

    def __init__(self, redis_url: str, namespace: str = "kefu") -> None:
        import redis.asyncio as aioredis

        super().__init__()
        self.CHANNEL = f"{namespace}:push:agent"
        self._redis = aioredis.from_url(redis_url)
        self._subscription = RedisSubscription(
            self._redis, self.CHANNEL, lambda env: self.deliver_nowait(int(env["agent_id"]), env["event"])
        )

    async def start(self) -> None:
        await self._subscription.start()

    async def stop(self) -> None:
        await self._subscription.stop()
        await self._redis.aclose()

    async def send_to_agent(self, agent_id: int, event: dict[str, Any]) -> None:
        payload = json.dumps({"agent_id": agent_id, "event": event}, ensure_ascii=False, default=str)
        try:
            await self._redis.publish(self.CHANNEL, payload)
        except Exception as exc:  # Redis briefly down: at least the sockets on this replica get it
            log.warning("redis publish to agent failed (%s); delivering locally", exc)
            self.deliver_nowait(agent_id, event)
