"""The plumbing of a clustered routing engine: the cluster lock, the change log, the hand-over of events.

See :mod:`router.cluster` for how replicas stay consistent.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.exc import IntegrityError

from router.cluster.scripts import ACQUIRE, APPEND, CLEAR_MARK, RELEASE, WAITING_MS
from router.routing.changes import Change, RecordingStore
from router.routing.config import EngineConfig, EventBus
from router.routing.engine import RoutingEngine
from router.routing.errors import OfferNotPending
from router.routing.models import RoutingEvent
from router.routing.store import RoutingStore

log = logging.getLogger(__name__)
T = TypeVar("T")


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


class Replica:
    """One replica's routing engine kept consistent with the other replicas: the cluster lock, the change log and the
    hand-over of events (see :mod:`router.cluster`).  :class:`~router.cluster.engine.ClusteredEngine` puts the
    engine's API on top, each method either a read (:meth:`_read`) or a decision (:meth:`_decide`)."""

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
        """This replica's engine (memory as of the last replay; tests compare replicas through it)."""
        return self._engine

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
    def _read(self, call: Callable[[RoutingEngine], T]) -> T:
        """Answer from memory, after replaying the log (no cluster lock)."""
        with self._local:
            self._catch_up()
            return call(self._engine)

    def _timer_due(self) -> bool:
        with self._local:
            self._catch_up()
            due = self._engine.next_due()
            return due is not None and due <= self._engine.clock()

    def _decide(self, call: Callable[[RoutingEngine], T], *, agents: Collection[int] = (), full: bool = False) -> T:
        """Run ``call`` on the engine under the cluster lock and log what it committed.

        ``agents`` names agent profiles the call reads from the database outside a store transaction (the log must
        name them explicitly); ``full`` rebuilds the engine from the database instead of replaying the log, and has
        every other replica reload everything as well (start-up)."""
        waiting_since = time.monotonic()
        if not self._decider.acquire(timeout=self._wait_s):
            raise RoutingLockTimeout(f"routing lock not acquired within {self._wait_s:.0f}s")
        handed_over = False
        try:
            token = self._acquire_lock(waiting_since + self._wait_s)
            held_since = time.monotonic()
            try:
                return self._decide_locked(call, agents=agents, full=full)
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

    def _decide_locked(self, call: Callable[[RoutingEngine], T], *, agents: Collection[int], full: bool) -> T:
        with self._local:
            mark = uuid.uuid4().hex
            left_behind = self._redis.set(self.mark_key, mark, get=True)
            if left_behind is not None:
                # the previous decision never logged what it did: it may have committed changes nobody replayed
                log.warning("routing decision found an earlier decision unfinished; reloading everything")
                self.stats.marks_found += 1
                self._cursor = None
            try:
                if full:
                    self._reload(decide=True)
                else:
                    self._catch_up()
                return call(self._engine)
            except (OfferNotPending, IntegrityError) as exc:
                # the database refused what memory allowed (a change committed but never logged, e.g. by a replica
                # killed in between): reload everything before the next call
                if isinstance(exc, IntegrityError) or exc.context.get("state") == "decided elsewhere":
                    log.warning("routing state diverged from the database (%s); reloading", exc)
                    self._cursor = None
                raise
            finally:
                change = self._store.take()  # what committed, even when the call failed half-way
                change.agents |= set(agents)
                change.full = full or left_behind is not None
                self._append(change, mark)
