"""Several router replicas on one PostgreSQL + Redis: a shared routing state and agent push across processes.

Each replica keeps the routing engine's in-memory indexes; the database is the source of truth, and a change log in
Redis (a stream of numbered entries) tells every replica which part of it changed:

* a *decision* (an engine call that may change routing state) runs under one Redis lock, so two replicas never decide
  at the same time.  Before deciding, the replica replays the log entries it has not seen; afterwards it appends what
  its call committed (the conversations and agents it wrote, recorded by :class:`RecordingStore`), if anything.
* replaying an entry reloads only those conversations and agents from the database (``RoutingEngine.refresh``), so
  an entry applied twice does no harm; a gap in the numbering (log trimmed, Redis restarted) means a full reload.
* *reads* (queue position, an agent's offers, agents online) take no Redis lock: they replay the log and answer from
  memory; ``next_due`` answers from memory alone (the timer loop asks on the event loop).  A timer tick takes the
  lock only when one of this replica's timers is due.
* the engine's events (offers, assignments, ...) go to their subscribers (agent push, gateway) once the Redis lock is
  released, in order and before the call returns: the gateway's database writes do not hold up the other replicas.
* claims stay atomic in SQL (conditional UPDATE of the offer row), so even a lock lost to a timeout cannot let two
  agents hold one conversation; when the database refuses what memory allowed (offer "decided elsewhere", a unique
  index violated) the replica reloads everything.
* a replica that (re)starts recovers under the lock and appends a "reload everything" entry: a replica killed in the
  middle of a call may have committed a change it never logged.

Agent events go through Redis pub/sub (:class:`RedisHub`), so an offer made on replica A reaches the agent whose
WebSocket is on replica B.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from router.hub import LocalHub
from router.redis_fanout import RedisSubscription
from router.routing.changes import Change, RecordingStore
from router.routing.engine import EngineConfig, EventBus, RoutingEngine
from router.routing.errors import OfferNotPending
from router.routing.models import RoutingEvent
from router.routing.store import RoutingStore

log = logging.getLogger(__name__)

# engine methods that may change routing state: they run under the Redis lock (the others only read memory)
DECISIONS = frozenset(
    {
        "enqueue",
        "accept",
        "reject",
        "rescind",
        "close",
        "abandon",
        "transfer",
        "set_status",
        "set_presence",
        "requeue_held",
        "upsert_agent",
        "reload_agent",
        "tick",
    }
)
# numbering and appending in one step, so entries are numbered without gaps in the order they were appended
# (and clearing this decision's in-flight mark, if it is still this decision's)
APPEND = """
local seq = redis.call('INCR', KEYS[1])
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'seq', seq, 'change', ARGV[2])
if redis.call('GET', KEYS[3]) == ARGV[3] then redis.call('DEL', KEYS[3]) end
return {seq, id}
"""
# The routing lock, taken in turns: a replica that held it last does not take it again while another replica has
# been waiting for it (within the last WAITING_MS), so a busy replica deciding back to back cannot starve the other
# one (with plain SET NX polling it could: its next decision is ready the instant it releases, while the other
# replica's poll comes up to one interval later -- the multi-second lock waits of the two-replica load bench).
ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[3], ARGV[3], now)
  redis.call('PEXPIRE', KEYS[3], 60000)
  return 0
end
if redis.call('GET', KEYS[2]) == ARGV[3] then
  local waiting = redis.call('HGETALL', KEYS[3])
  for i = 1, #waiting, 2 do
    if waiting[i] ~= ARGV[3] and tonumber(waiting[i + 1]) > now - tonumber(ARGV[4]) then
      redis.call('HSET', KEYS[3], ARGV[3], now)
      return 0
    end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
redis.call('HDEL', KEYS[3], ARGV[3])
return 1
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
WAITING_MS = 50
CLEAR_MARK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RoutingLockTimeout(TimeoutError):
    """The cluster-wide routing lock was not obtained in time (another replica holds it or Redis is unreachable)."""


@dataclass
class Cursor:
    """The last change-log entry this replica's engine reflects."""

    entry_id: str
    seq: int


@dataclass
class ClusterStats:
    """Counters of one replica, for tests and operators."""

    decisions: int = 0
    appended: int = 0
    replayed: int = 0
    full_reloads: int = 0
    marks_found: int = 0  # decisions that found an earlier decision's in-flight mark (it died before logging)
    lock_wait_total_s: float = 0.0
    lock_wait_max_s: float = 0.0
    lock_hold_total_s: float = 0.0
    lock_hold_max_s: float = 0.0

    def decided(self, *, waited: float, held: float) -> None:
        self.decisions += 1
        self.lock_wait_total_s += waited
        self.lock_wait_max_s = max(self.lock_wait_max_s, waited)
        self.lock_hold_total_s += held
        self.lock_hold_max_s = max(self.lock_hold_max_s, held)


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
        log_max_len: int = 10_000,
        engine_factory: Callable[[RoutingStore, EngineConfig], RoutingEngine] | None = None,
    ) -> None:
        import redis

        self._store = RecordingStore(store)
        self._config = config
        self._factory = engine_factory or (lambda s, c: RoutingEngine(s, config=c))
        self._redis = redis.Redis.from_url(redis_url)
        self.lock_name = f"{namespace}:routing:lock"
        self.log_key = f"{namespace}:routing:log"
        self._seq_key = f"{namespace}:routing:seq"
        self.mark_key = f"{namespace}:routing:inflight"
        self._log_max_len = log_max_len
        self._append_script = self._redis.register_script(APPEND)
        self._clear_script = self._redis.register_script(CLEAR_MARK)
        self._wait_s = lock_timeout_s * 2
        # a lock that outlives a stuck holder (``lock_timeout_s``), taken in turns (ACQUIRE), polled every 5 ms
        self._lock_timeout_ms = int(lock_timeout_s * 1000)
        self._acquire_script = self._redis.register_script(ACQUIRE)
        self._release_script = self._redis.register_script(RELEASE)
        self._turn_keys = [self.lock_name, f"{namespace}:routing:last", f"{namespace}:routing:waiting"]
        self.replica_id = uuid.uuid4().hex
        self._decider = threading.Lock()  # this process's deciding threads queue here: only one polls Redis
        self._publishing = threading.RLock()  # events go out one decision after the other
        self._local = threading.RLock()  # the engine and the cursor; never held while waiting for the Redis lock
        self.events = EventBus()
        # the engine's events wait here until the Redis lock is released (subscribers write to the database)
        self._held: list[RoutingEvent] = []
        self.stats = ClusterStats()
        self._engine = self._new_engine()
        self._cursor: Cursor | None = None  # None: reload everything before the next use

    def _new_engine(self) -> RoutingEngine:
        engine = self._factory(self._store, self._config)
        engine.events = EventBus()
        engine.events.subscribe(self._held.append)  # only decisions emit events
        return engine

    @property
    def engine(self) -> RoutingEngine:
        return self._engine

    def clock(self) -> float:
        return self._engine.clock()

    def next_due(self) -> float | None:
        """When this replica's next timer is due, from memory without waiting for anything: the timer loop asks from
        the event loop.  (Replicas learn each other's timers when :meth:`tick` replays the log.)"""
        with contextlib.suppress(IndexError):  # the heap emptied under us: nothing due
            return self._engine.next_due()
        return None

    # ------------------------------------------------------------------ change log
    def _reload(self, *, decide: bool) -> None:
        """Rebuild the engine from the database and point the cursor at the log's current end."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.get(self._seq_key)
        pipe.xrevrange(self.log_key, count=1)
        head, tail = pipe.execute()
        engine = self._new_engine()
        engine.recover(decide=decide)
        self._engine = engine
        if tail:
            entry_id, fields = tail[0]
            self._cursor = Cursor(entry_id.decode(), int(fields[b"seq"]))
        else:
            self._cursor = Cursor("0-0", int(head or 0))
        self.stats.full_reloads += 1

    def _catch_up(self) -> None:
        """Replay the entries appended since the cursor (one round trip to Redis when there are none)."""
        cursor = self._cursor
        if cursor is None:
            self._reload(decide=False)
            return
        pipe = self._redis.pipeline(transaction=False)
        pipe.get(self._seq_key)
        pipe.xrange(self.log_key, min=f"({cursor.entry_id}", max="+")
        head_raw, entries = pipe.execute()
        head = int(head_raw or 0)
        if head == cursor.seq and not entries:
            return
        change, seq, entry_id = Change(), cursor.seq, cursor.entry_id
        gap = head < cursor.seq  # the numbering started again: Redis lost its data
        for raw_id, fields in entries:
            if int(fields[b"seq"]) != seq + 1:
                gap = True
                break
            change.merge(Change.from_json(fields[b"change"]))
            seq, entry_id = seq + 1, raw_id.decode()
        if gap or seq < head or change.full:  # entries missing (trimmed log, Redis restarted) or someone asked
            log.info("routing change log: reloading everything (at %d, log at %d)", seq, head)
            self._reload(decide=False)
            return
        self._engine.refresh(conversation_ids=change.conversations, agent_ids=change.agents, decided=change.decided)
        self._cursor = Cursor(entry_id, seq)
        self.stats.replayed += len(entries)

    def _append(self, change: Change, mark: str) -> None:
        """Log what the decision committed and clear its in-flight mark."""
        if not change:
            self._clear_script(keys=[self.mark_key], args=[mark])
            return
        seq, entry_id = self._append_script(
            keys=[self._seq_key, self.log_key, self.mark_key], args=[self._log_max_len, change.to_json(), mark]
        )
        self.stats.appended += 1
        if self._cursor is not None and int(seq) == self._cursor.seq + 1:
            self._cursor = Cursor(entry_id.decode(), int(seq))
        # otherwise another replica appended in between (our lock expired): replay from the old cursor, which
        # reloads our own entry as well, harmlessly

    # ------------------------------------------------------------------ calls
    def _read(self, name: str, *args: Any, **kwargs: Any) -> Any:
        with self._local:
            self._catch_up()
            return getattr(self._engine, name)(*args, **kwargs)

    def _timer_due(self) -> bool:
        with self._local:
            self._catch_up()
            due = self._engine.next_due()
            return due is not None and due <= self._engine.clock()

    def _decide(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "tick" and not self._timer_due():
            return 0  # nothing due here: don't take the cluster lock just to find that out
        waiting_since = time.monotonic()
        if not self._decider.acquire(timeout=self._wait_s):
            raise RoutingLockTimeout(f"routing lock not acquired within {self._wait_s:.0f}s")
        handed_over = False
        try:
            token = self._acquire_lock(waiting_since + self._wait_s)
            held_since = time.monotonic()
            try:
                return self._decide_locked(name, *args, **kwargs)
            finally:
                with contextlib.suppress(Exception):  # lock expired: the SQL claims still guard correctness
                    self._release_script(keys=[self.lock_name], args=[token])
                self.stats.decided(waited=held_since - waiting_since, held=time.monotonic() - held_since)
                # Subscribers run now, while the other replicas and the next decision here go on; events still
                # leave in the order of the decisions (hand-over from one lock to the other), and the call returns
                # only once the gateway applied them (the agent owns the conversation when accept answers).
                events, self._held[:] = list(self._held), []
                with self._publishing:
                    self._decider.release()
                    handed_over = True
                    for event in events:
                        self.events.publish(event)
        finally:
            if not handed_over:
                self._decider.release()

    def _acquire_lock(self, deadline: float) -> str:
        """Take the cluster's routing lock in turn with the other replicas (see ACQUIRE); returns its token."""
        token = uuid.uuid4().hex
        args: list[str | int] = [token, self._lock_timeout_ms, self.replica_id, WAITING_MS]
        while True:
            if self._acquire_script(keys=self._turn_keys, args=args):
                return token
            if time.monotonic() >= deadline:
                raise RoutingLockTimeout(f"routing lock not acquired within {self._wait_s:.0f}s")
            time.sleep(0.005)

    def _decide_locked(self, name: str, *args: Any, **kwargs: Any) -> Any:
        with self._local:
            mark = uuid.uuid4().hex
            left_behind = self._redis.set(self.mark_key, mark, get=True)
            if left_behind is not None:
                # the previous decision never logged what it did: it may have committed changes nobody replayed
                log.warning("routing decision found an earlier decision unfinished; reloading everything")
                self.stats.marks_found += 1
                self._cursor = None
            try:
                if name == "recover":
                    self._reload(decide=True)
                    return None
                self._catch_up()
                return getattr(self._engine, name)(*args, **kwargs)
            except (OfferNotPending, IntegrityError) as exc:
                # the database refused what memory allowed (a change committed but never logged, e.g. by a replica
                # killed in between): reload everything before the next call
                if isinstance(exc, IntegrityError) or exc.context.get("state") == "decided elsewhere":
                    log.warning("routing state diverged from the database (%s); reloading", exc)
                    self._cursor = None
                raise
            finally:
                change = self._store.take()  # what committed, even when the call failed half-way
                change.agents |= _profile_changes(name, args, kwargs)
                change.full = name == "recover" or left_behind is not None
                self._append(change, mark)

    def recover(self) -> None:
        """Start-up: rebuild from the database under the lock and have every other replica reload as well."""
        self._decide("recover")

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._engine, name)
        if not callable(attr) or name.startswith("_"):
            return attr
        call = self._decide if name in DECISIONS else self._read
        return lambda *args, **kwargs: call(name, *args, **kwargs)


def _profile_changes(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> set[int]:
    """Agent profiles are read from the database outside a store transaction: name them on the log explicitly."""
    if name == "reload_agent":
        return {int(args[0] if args else kwargs["agent_id"])}
    if name == "upsert_agent":
        return {int((args[0] if args else kwargs["agent"]).id)}
    return set()


class RedisHub(LocalHub):
    """Agent push across replicas: ``send_to_agent`` publishes; every replica delivers to the sockets it holds."""

    def __init__(self, redis_url: str, namespace: str = "kefu") -> None:
        import redis.asyncio as aioredis

        super().__init__()
        self.CHANNEL = f"{namespace}:push:agent"
        self._redis = aioredis.from_url(redis_url)
        self._subscription = RedisSubscription(
            self._redis, self.CHANNEL, lambda env: self.deliver_nowait(int(env["agent_id"]), env["event"]),
            on_gap=self.resync_all,
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
