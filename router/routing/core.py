"""The routing engine's core: its in-memory indexes, the lock around each operation and the store transactions.

:class:`EngineCore` holds what every part of the engine shares: the agents (eligibility), the queue (selection), the
offers and timers (reservation), the live items by conversation, and the plumbing that runs one operation under the
lock, publishes its events once the lock is free and reloads memory from the store when a transaction failed.  The
decisions built on it live in :mod:`router.routing.dispatch` (offers) and :mod:`router.routing.engine` (the API).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from router.routing.config import Clock, EngineConfig, EventBus
from router.routing.eligibility import AgentIndex
from router.routing.errors import UnknownAgent, UnknownConversation
from router.routing.feedback import AnswerLog
from router.routing.models import AgentState, ItemState, Offer, OfferState, RoutingEvent, WorkItem
from router.routing.reservation import OfferBook, Timers
from router.routing.selection import QueueIndex, sort_key
from router.routing.store import EphemeralStore, RoutingStore, StoreTx

log = logging.getLogger(__name__)


class EngineCore:
    """State and plumbing shared by the engine's parts; not used on its own (see :class:`RoutingEngine`)."""

    def __init__(
        self, store: RoutingStore | None = None, *, config: EngineConfig | None = None, clock: Clock = time.time
    ) -> None:
        self.store: RoutingStore = store or EphemeralStore()
        self.config = config or EngineConfig()
        self.clock = clock
        self.events = EventBus()
        self.agents = AgentIndex()
        self.queue = QueueIndex(self.config.relaxation)
        self.offers = OfferBook(self.config.offer_timeout_s)
        self.timers = Timers()
        self.items: dict[str, WorkItem] = {}  # live items by conversation id
        self._by_id: dict[str, WorkItem] = {}
        self._assigned: dict[int, set[str]] = {}
        self._answers = AnswerLog(self.config.eta_window_s)
        self._rng = random.Random(self.config.seed)
        self._lock = threading.RLock()
        self._publishing = threading.Lock()  # events leave in the order of the operations, after the lock is free
        self._depth = 0  # nesting of _op in the thread holding the lock
        self._dirty = False  # a transaction failed after memory changed: reload from the store
        self._outbox: list[RoutingEvent] = []
        self._seq = 0

    # ------------------------------------------------------------------ plumbing
    @contextmanager
    def _op(self) -> Iterator[float]:
        """One engine operation under the lock.  Its events go to the subscribers once the lock is released (they
        write to the database: routing must not wait for that), still in the order of the operations and before the
        call returns.  Memory that a failed transaction left ahead of the store is reloaded from the store."""
        self._lock.acquire()
        self._depth += 1
        try:
            if self._dirty and self._depth == 1:
                self._resync()
            yield self.clock()
        finally:
            if self._dirty and self._depth == 1:
                self._resync()
            self._depth -= 1
            if self._depth:
                self._lock.release()
            else:
                events, self._outbox = self._outbox, []
                self._publishing.acquire()
                self._lock.release()
                try:
                    for event in events:
                        self.events.publish(event)
                finally:
                    self._publishing.release()

    @contextmanager
    def _tx(self) -> Iterator[StoreTx]:
        """A store transaction; if it fails, its events are dropped and memory is reloaded from the store at the end
        of the operation (memory may already hold what the database refused)."""
        mark = len(self._outbox)
        try:
            with self.store.transaction() as tx:
                yield tx
        except Exception:
            del self._outbox[mark:]
            self._dirty = not isinstance(self.store, EphemeralStore)  # without a store, memory is the truth
            raise

    def _resync(self) -> None:
        """Rebuild the indexes from the store (after a failed commit); if the store is unreachable, try later."""
        try:
            agents = self.store.load_agents()
            items, offers = self.store.load_live()
        except Exception:
            log.warning("routing state reload failed; retrying at the next operation", exc_info=True)
            return
        now = self.clock()
        self.agents = AgentIndex()
        self.queue = QueueIndex(self.config.relaxation)
        self.offers = OfferBook(self.config.offer_timeout_s)
        self.timers = Timers()
        self.items, self._by_id, self._assigned = {}, {}, {}
        for agent in agents:
            self.agents.upsert(agent)
        pending = {o.item_id: o for o in offers}
        for item in items:
            self._restore(item, pending.get(item.id), now)
        self._dirty = False
        log.warning("routing state reloaded from the store after a failed transaction")

    def _emit(self, type_: str, item: WorkItem, agent_id: int | None, **data: Any) -> None:
        self._outbox.append(RoutingEvent(type_, item.conversation_id, agent_id, data))

    # ------------------------------------------------------------------ indexes
    def _agent(self, agent_id: int) -> AgentState:
        agent = self.agents.agents.get(agent_id)
        if agent is None:
            raise UnknownAgent(agent_id)
        return agent

    def _live(self, conversation_id: str) -> WorkItem:
        item = self.items.get(conversation_id)
        if item is None:
            raise UnknownConversation(conversation_id)
        return item

    def _add_load(self, agent: AgentState, channel: str, delta: int) -> None:
        agent.load[channel] = max(0, agent.load.get(channel, 0) + delta)
        self.agents.refresh(agent)


    def _could_serve(self, skill: str) -> bool:
        if self.config.ignore_skills or self.config.relaxation.any_agent_after_s is not None:
            return self.agents.online_count() > 0
        floor = self.config.relaxation.steps[-1][1]
        return any(a.proficiency(skill) >= floor for a in self.agents.online(skill))


    def _track(self, item: WorkItem) -> None:
        self._seq += 1
        item.seq = self._seq
        self.items[item.conversation_id] = item
        self._by_id[item.id] = item

    def _untrack(self, item: WorkItem) -> None:
        self.items.pop(item.conversation_id, None)
        self._by_id.pop(item.id, None)

    def _queue(self, item: WorkItem, now: float) -> None:
        """Put a waiting item in the heap of its current relaxation tier and arm the next relaxation timer."""
        policy = self.config.relaxation
        item.state = ItemState.waiting
        item.sort_key = (
            item.enqueued_at if self.config.ignore_priority else sort_key(item, self.config.priority_weight_s)
        )
        waited = now - item.enqueued_at + 1e-6  # a relaxation timer firing at t0 + 60 must not see 59.99999
        item.tier = policy.any_tier if self.config.ignore_skills else policy.tier_for_wait(waited)
        self.queue.push(item)
        nxt = None if self.config.ignore_skills else policy.next_tier_after(item.tier)
        if nxt is not None:
            self.timers.add(item.enqueued_at + nxt, "relax", item.id, item.version)

    def _skill_floor(self, item: WorkItem) -> int | None:
        if self.config.ignore_skills:
            return None
        return self.config.relaxation.min_proficiency(item.tier)


    # ------------------------------------------------------------------ memory rebuild
    def _restore(self, item: WorkItem, offer: Offer | None, now: float) -> None:
        """Index one live item as the store has it (with its pending offer, if offered)."""
        self._track(item)
        if item.state is ItemState.assigned and item.agent_id is not None:
            self._assigned.setdefault(item.agent_id, set()).add(item.conversation_id)
            holder = self.agents.agents.get(item.agent_id)
            if holder is not None:
                self._add_load(holder, item.channel, +1)
            return
        if item.state is ItemState.offered and offer is not None:
            self.offers.restore(offer)
            owner = self.agents.agents.get(offer.agent_id)
            if owner is not None:
                self._add_load(owner, item.channel, +1)
            self.timers.add(offer.deadline, "offer_deadline", offer.id)
            return
        item.target_agent_id = None
        self._queue(item, now)
        for until in item.excluded.values():
            if until > now:
                self.timers.add(until, "retry", item.id)

    def _forget(self, conversation_id: str, decided: Mapping[str, OfferState], now: float) -> WorkItem | None:
        """Drop a live item from every index, giving back the load it held; returns the dropped item."""
        item = self.items.get(conversation_id)
        if item is None:
            return None
        holder_id: int | None = None
        if item.state is ItemState.offered:
            offer = self.offers.for_item(item.id)
            if offer is not None:
                holder_id = offer.agent_id
                final = decided.get(offer.id)
                if final is not None:  # a late accept here learns what became of it
                    self.offers.decide(offer, final, now)
                else:
                    self.offers.drop(offer)
        elif item.state is ItemState.assigned and item.agent_id is not None:
            holder_id = item.agent_id
            self._assigned.get(item.agent_id, set()).discard(conversation_id)
        holder = self.agents.agents.get(holder_id) if holder_id is not None else None
        if holder is not None:
            self._add_load(holder, item.channel, -1)
        item.version += 1  # its queue entries go stale
        self._untrack(item)
        return item

