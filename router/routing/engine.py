"""The routing engine facade: hands conversations waiting for a human to agents.

It ties eligibility (who may take what), selection (what next, to whom) and reservation (offers and timers)
together, keeps in-memory indexes for fast decisions and writes every transition through the store in one
transaction.  Time comes from an injectable ``clock`` so a SimPy simulation can drive it with virtual time.

Callbacks subscribed to :attr:`RoutingEngine.events` run synchronously inside engine operations: they must not call
back into the engine (schedule work instead, e.g. ``loop.call_soon_threadsafe``).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import random
import threading
import time
import uuid
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from router.routing.config import Clock, EngineConfig, EventBus
from router.routing.eligibility import AgentIndex, agent_can_take
from router.routing.errors import (
    AlreadyQueued,
    InvalidTransfer,
    NoAgentOnline,
    NotAssigned,
    OfferNotPending,
    UnknownAgent,
    UnknownConversation,
)
from router.routing.feedback import AnswerLog, QueueStatus, overview_by_skill, position
from router.routing.models import (
    KNOWN_SKILLS,
    AgentState,
    AgentStatus,
    ItemState,
    Offer,
    OfferState,
    RoutingEvent,
    WorkItem,
)
from router.routing.reservation import OfferBook, Timers
from router.routing.selection import QueueIndex, choose_agent, sort_key
from router.routing.store import EphemeralStore, RoutingStore, StoreTx

__all__ = ["Clock", "EngineConfig", "EventBus", "QueueStatus", "RoutingEngine"]
log = logging.getLogger(__name__)
TRANSFER_PRIORITY_BONUS = 2
NEVER_AGAIN_S = 24 * 3600.0


class RoutingEngine:
    """Skill-based routing with priority + aging, relaxation by wait time, capacity and offers."""

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

    # ------------------------------------------------------------------ agents
    def upsert_agent(self, agent: AgentState) -> AgentState:
        """Add or update an agent's profile (skills, capacity, status); their current load is kept."""
        with self._op():
            old = self.agents.agents.get(agent.id)
            if old is not None:
                agent.load, agent.connected = old.load, old.connected
            self.agents.upsert(agent)
            self._dispatch_agent(agent, self.clock())
            return agent

    def reload_agent(self, agent_id: int) -> AgentState:
        rows = self.store.load_agents(agent_id)
        if not rows:
            raise UnknownAgent(agent_id)
        return self.upsert_agent(rows[0])

    def get_agent(self, agent_id: int) -> AgentState:
        return self._agent(agent_id)

    def set_status(self, agent_id: int, status: AgentStatus) -> AgentState:
        """Online agents get offers; going away or offline rescinds their pending offers (they go to others)."""
        with self._op() as now:
            agent = self._agent(agent_id)
            released: list[WorkItem] = []
            with self._tx() as tx:
                agent.status = status
                tx.save_agent(agent)
                if status is not AgentStatus.online:
                    for offer in self.offers.for_agent(agent_id):
                        released.append(self._release(tx, offer, OfferState.rescinded, now))
            self.agents.refresh(agent)
            for item in released:
                self._dispatch_item(item, now)
            self._dispatch_agent(agent, now)
            return agent

    def set_presence(self, agent_id: int, connected: bool, *, reason: str = "agent_disconnected") -> AgentState:
        """Whether the agent has a live console connection (router.presence decides when, after its grace).

        Losing it rescinds her pending offers, which go to other agents at once; regaining it makes her available
        again if her chosen status is online.  Conversations she holds stay with her (see :meth:`requeue_held`).
        Nothing changes (and nothing is written) when the agent is already in that state."""
        with self._op() as now:
            agent = self._agent(agent_id)
            if agent.connected == connected:
                return agent
            agent.connected = connected
            released: list[WorkItem] = []
            if not connected:
                offers = self.offers.for_agent(agent_id)
                if offers:
                    with self._tx() as tx:
                        for offer in offers:
                            released.append(self._release(tx, offer, OfferState.rescinded, now, reason=reason))
            self.agents.refresh(agent)
            self._outbox.append(
                RoutingEvent("presence", "", agent_id, {"connected": connected, "status": agent.status.value})
            )
            for item in released:
                self._dispatch_item(item, now)
            self._dispatch_agent(agent, now)
            return agent

    def requeue_held(self, agent_id: int, *, reason: str = "agent_lost") -> list[WorkItem]:
        """Put every conversation the agent holds back in the queue (she vanished): same skill, same priority and the
        original queue time (so it is served first), the shopper's history untouched (it lives with the
        conversation).  Returns the new queue entries."""
        with self._op() as now:
            self._agent(agent_id)
            held = [self.items[c] for c in sorted(self._assigned.get(agent_id, ())) if c in self.items]
            fresh: list[WorkItem] = []
            for item in held:
                if item.state is not ItemState.assigned or item.agent_id != agent_id:
                    continue
                new = WorkItem(
                    id=uuid.uuid4().hex,
                    conversation_id=item.conversation_id,
                    customer_id=item.customer_id,
                    channel=item.channel,
                    skill=item.skill,
                    priority=item.priority,
                    enqueued_at=item.enqueued_at,
                    language=item.language,
                    reason=reason,
                    note=item.note,
                    transferred_from=item.id,
                    context=item.context,
                )
                with self._tx() as tx:
                    self._end(tx, item, ItemState.transferred, reason, now)
                    tx.insert_item(new)
                    self._track(new)
                self._emit("transferred", item, agent_id, to_agent_id=None, to_skill=item.skill, note=None,
                           reason=reason)
                self._queue(new, now)
                fresh.append(new)
            for new in fresh:
                self._dispatch_item(new, now)
            return fresh

    def agents_online(self, skill: str | None = None) -> int:
        """Online agents having ``skill`` (any proficiency), or all online agents."""
        return self.agents.online_count(skill)

    def _could_serve(self, skill: str) -> bool:
        if self.config.ignore_skills or self.config.relaxation.any_agent_after_s is not None:
            return self.agents.online_count() > 0
        floor = self.config.relaxation.steps[-1][1]
        return any(a.proficiency(skill) >= floor for a in self.agents.online(skill))

    # ------------------------------------------------------------------ conversations
    def enqueue(
        self,
        *,
        conversation_id: str,
        customer_id: str,
        skill: str,
        priority: int = 0,
        channel: str = "chat",
        language: str = "zh",
        reason: str = "request_human",
        note: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> WorkItem:
        """Queue a conversation for a human; offers it at once if an eligible agent is free.

        Raises :class:`NoAgentOnline` when nobody who could ever take it is online (shopper may leave a message).
        """
        with self._op() as now:
            if conversation_id in self.items:
                raise AlreadyQueued(conversation_id, self.items[conversation_id].state.value)
            if self.config.require_online_agent and not self._could_serve(skill):
                raise NoAgentOnline(skill)
            item = WorkItem(
                id=uuid.uuid4().hex,
                conversation_id=conversation_id,
                customer_id=customer_id,
                channel=channel,
                skill=skill,
                priority=max(0, min(10, priority)),
                enqueued_at=now,
                language=language,
                reason=reason,
                note=note,
                context=dict(context or {}),
            )
            with self._tx() as tx:
                tx.insert_item(item)
            self._track(item)
            self._queue(item, now)
            self._emit("queued", item, None, skill=skill, priority=item.priority)
            self._dispatch_item(item, now)
            return item

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

    def _dispatch_item(self, item: WorkItem, now: float) -> bool:
        """Offer a waiting item to the best free eligible agent, if any."""
        if item.state is not ItemState.waiting:
            return False
        floor = self._skill_floor(item)
        pool = self.agents.free_agents(item.channel, None if floor is None else item.skill)
        candidates = (a for a in pool if agent_can_take(a, item, now, skill_floor=floor))
        agent = choose_agent(candidates, item, self.config.agent_choice, self._rng)
        if agent is None:
            return False
        with self._tx() as tx:
            self._offer(tx, item, agent, now)
        return True

    def _dispatch_agent(self, agent: AgentState, now: float) -> None:
        """Fill an agent's free capacity with the best waiting items they may take."""
        while agent.available:
            channels = [c for c in agent.capacity if agent.free(c) > 0]
            if not channels:
                return
            item = self.queue.best_for_agent(
                agent,
                channels,
                lambda it: agent_can_take(agent, it, now, skill_floor=None),
                ignore_skills=self.config.ignore_skills,
                proficiency_weight_s=0.0 if self.config.ignore_skills else self.config.proficiency_weight_s,
            )
            if item is None:
                return
            with self._tx() as tx:
                self._offer(tx, item, agent, now)

    def _offer(self, tx: StoreTx, item: WorkItem, agent: AgentState, now: float) -> Offer:
        offer = self.offers.create(item, agent, now)
        item.state = ItemState.offered
        tx.insert_offer(offer)
        tx.update_item(item)
        self._add_load(agent, item.channel, +1)
        self.timers.add(offer.deadline, "offer_deadline", offer.id)
        self._emit(
            "offer",
            item,
            agent.id,
            offer_id=offer.id,
            deadline=offer.deadline,
            skill=item.skill,
            priority=item.priority,
            customer_id=item.customer_id,
            channel=item.channel,
            note=item.note,
            reason=item.reason,
            waited_s=round(now - item.enqueued_at, 3),
            enqueued_at=item.enqueued_at,
            context=item.context,
        )
        return offer

    def _release(
        self, tx: StoreTx, offer: Offer, state: OfferState, now: float, *, reason: str | None = None
    ) -> WorkItem:
        """A pending offer ends without acceptance: its item goes back to the queue (in its old place)."""
        if not tx.finish_offer(offer.id, state, now):
            raise OfferNotPending(offer.id, "decided elsewhere")
        self.offers.decide(offer, state, now)
        item = self._by_id[offer.item_id]
        agent = self.agents.agents.get(offer.agent_id)
        if agent is not None:
            self._add_load(agent, item.channel, -1)
        if state is not OfferState.rescinded:
            until = now + self.config.reoffer_cooldown_s
            item.excluded[offer.agent_id] = until
            self.timers.add(until, "retry", item.id)
        item.target_agent_id = None
        self._queue(item, now)
        tx.update_item(item)
        kind = {OfferState.rejected: "offer_rejected", OfferState.timed_out: "offer_timed_out"}.get(
            state, "offer_rescinded"
        )
        if reason is None:
            self._emit(kind, item, offer.agent_id, offer_id=offer.id)
        else:
            self._emit(kind, item, offer.agent_id, offer_id=offer.id, reason=reason)
        return item

    def accept(self, offer_id: str, agent_id: int) -> WorkItem:
        """The agent takes the conversation. Exactly one caller can win a pending offer."""
        with self._op() as now:
            offer = self.offers.get_pending(offer_id, agent_id)
            item = self._by_id[offer.item_id]
            agent = self._agent(agent_id)
            with self._tx() as tx:
                if not tx.finish_offer(offer.id, OfferState.accepted, now):
                    raise OfferNotPending(offer.id, "decided elsewhere")
                item.state, item.agent_id = ItemState.assigned, agent_id
                tx.update_item(item)
                tx.open_assignment(item, agent_id, offer.id, now)
                agent.last_assigned_at = now
                tx.save_agent(agent)
            self.offers.decide(offer, OfferState.accepted, now)
            self._assigned.setdefault(agent_id, set()).add(item.conversation_id)
            self._answers.record(now, item.skill, now - item.enqueued_at)
            self._emit(
                "assigned",
                item,
                agent_id,
                offer_id=offer.id,
                customer_id=item.customer_id,
                skill=item.skill,
                note=item.note,
                context=item.context,
                channel=item.channel,
            )
            return item

    def reject(self, offer_id: str, agent_id: int) -> WorkItem:
        with self._op() as now:
            offer = self.offers.get_pending(offer_id, agent_id)
            with self._tx() as tx:
                item = self._release(tx, offer, OfferState.rejected, now)
            self._dispatch_item(item, now)
            self._dispatch_agent(self._agent(agent_id), now)
            return item

    def rescind(self, offer_id: str) -> WorkItem:
        """Withdraw a pending offer (e.g. a supervisor re-routes); the item goes back to the queue."""
        with self._op() as now:
            offer = self.offers.get_pending(offer_id)
            with self._tx() as tx:
                item = self._release(tx, offer, OfferState.rescinded, now)
            self._dispatch_item(item, now)
            self._dispatch_agent(self._agent(offer.agent_id), now)
            return item

    def _end(self, tx: StoreTx, item: WorkItem, state: ItemState, reason: str, now: float) -> AgentState | None:
        """Finish a live item (closed, abandoned or transferred); returns the agent whose capacity it freed."""
        agent_id = item.agent_id
        if item.state is ItemState.offered:
            offer = self.offers.for_item(item.id)
            if offer is not None:
                tx.finish_offer(offer.id, OfferState.rescinded, now)
                self.offers.decide(offer, OfferState.rescinded, now)
                agent_id = offer.agent_id
                self._emit("offer_rescinded", item, agent_id, offer_id=offer.id, reason=reason)
        elif item.state is ItemState.assigned:
            tx.close_assignment(item.conversation_id, reason, now)
        freed: AgentState | None = None
        if item.state in (ItemState.offered, ItemState.assigned) and agent_id is not None:
            self._assigned.get(agent_id, set()).discard(item.conversation_id)
            freed = self.agents.agents.get(agent_id)
            if freed is not None:
                self._add_load(freed, item.channel, -1)
        item.state = state
        tx.update_item(item, ended_at=now)
        self._untrack(item)
        return freed

    def close(self, conversation_id: str, agent_id: int, reason: str = "resolved") -> WorkItem:
        with self._op() as now:
            item = self._live(conversation_id)
            if item.state is not ItemState.assigned or item.agent_id != agent_id:
                raise NotAssigned(conversation_id, agent_id)
            with self._tx() as tx:
                self._end(tx, item, ItemState.closed, reason, now)
            self._emit("closed", item, agent_id, reason=reason)
            self._dispatch_agent(self._agent(agent_id), now)
            return item

    def abandon(self, conversation_id: str) -> WorkItem:
        """The shopper left: drop the item wherever it is (queue, offer, or an agent's desk)."""
        with self._op() as now:
            item = self._live(conversation_id)
            agent_id = item.agent_id if item.state is ItemState.assigned else None
            with self._tx() as tx:
                freed = self._end(tx, item, ItemState.abandoned, "abandoned", now)
            self._emit("abandoned", item, agent_id)
            if agent_id is not None:
                self._emit("closed", item, agent_id, reason="abandoned")
            if freed is not None:
                self._dispatch_agent(freed, now)
            return item

    def transfer(
        self,
        conversation_id: str,
        agent_id: int,
        *,
        to_agent_id: int | None = None,
        to_skill: str | None = None,
        note: str | None = None,
    ) -> WorkItem:
        """Hand the conversation to a named agent (offered to them directly) or back to the queue for a skill."""
        with self._op() as now:
            item = self._live(conversation_id)
            if item.state is not ItemState.assigned or item.agent_id != agent_id:
                raise NotAssigned(conversation_id, agent_id)
            target: AgentState | None = None
            if to_agent_id is not None:
                if to_agent_id == agent_id:
                    raise InvalidTransfer("cannot transfer a conversation to yourself")
                target = self._agent(to_agent_id)
                if not target.available or target.free(item.channel) <= 0:
                    raise InvalidTransfer(f"agent {to_agent_id} is not online with free capacity", agent_id=to_agent_id)
            elif to_skill is None:
                raise InvalidTransfer("give a target agent or a target skill")
            skill = to_skill or item.skill
            if skill not in KNOWN_SKILLS and not self.agents.online(skill):
                raise InvalidTransfer(f"unknown skill {skill}", skill=skill)
            new = WorkItem(
                id=uuid.uuid4().hex,
                conversation_id=item.conversation_id,
                customer_id=item.customer_id,
                channel=item.channel,
                skill=skill,
                priority=min(10, item.priority + TRANSFER_PRIORITY_BONUS),
                enqueued_at=now,
                language=item.language,
                reason="transfer",
                note=note,
                target_agent_id=to_agent_id,
                transferred_from=item.id,
                excluded={agent_id: now + NEVER_AGAIN_S},
                context=item.context,
            )
            with self._tx() as tx:
                self._end(tx, item, ItemState.transferred, "transferred", now)
                tx.insert_item(new)
                self._track(new)
                if target is not None:
                    self._offer(tx, new, target, now)
            self._emit("transferred", item, agent_id, to_agent_id=to_agent_id, to_skill=skill, note=note)
            if target is None:
                self._queue(new, now)
                self._dispatch_item(new, now)
            self._dispatch_agent(self._agent(agent_id), now)
            return new

    # ------------------------------------------------------------------ time
    def next_due(self) -> float | None:
        return self.timers.next_due()

    def tick(self) -> int:
        """Fire every timer that is due: offer timeouts, relaxation steps, re-offer cool-downs. Returns how many."""
        fired = 0
        with self._op() as now:
            while (timer := self.timers.pop_due(now)) is not None:
                fired += 1
                if timer.kind == "offer_deadline":
                    offer = self.offers.pending.get(timer.ref)
                    if offer is None:
                        continue
                    with self._tx() as tx:
                        released = self._release(tx, offer, OfferState.timed_out, now)
                    self._dispatch_item(released, now)
                    self._dispatch_agent(self._agent(offer.agent_id), now)
                    continue
                waiting = self._by_id.get(timer.ref)
                if waiting is None or waiting.state is not ItemState.waiting:
                    continue
                if timer.kind == "relax":
                    if timer.version != waiting.version:
                        continue
                    self._queue(waiting, now)
                self._dispatch_item(waiting, now)
            if self.queue.entries() > 2 * len(self.items) + 1000:
                self.queue.compact()
        return fired

    # ------------------------------------------------------------------ recovery
    def recover(self, *, decide: bool = True) -> None:
        """Rebuild the in-memory state from the store after a (re)start: agents, queue, pending offers, timers.

        Offers whose deadline passed while the process was down time out now and their items are offered again;
        the others keep their remaining time.  With ``decide=False`` the state is only loaded (a replica that may
        not decide right now): nothing is offered, and expired offers time out at the next :meth:`tick`.
        """
        with self._op() as now:
            for agent in self.store.load_agents():
                self.agents.upsert(agent)
            items, offers = self.store.load_live()
            pending = {o.item_id: o for o in offers}
            for item in items:
                self._restore(item, pending.get(item.id), now)
            if not decide:
                return
            for offer in [o for o in self.offers.pending.values() if o.deadline <= now]:
                with self._tx() as tx:
                    self._release(tx, offer, OfferState.timed_out, now)
            for item in sorted(self.items.values(), key=lambda i: i.sort_key):
                self._dispatch_item(item, now)

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

    def refresh(
        self,
        *,
        conversation_ids: Collection[str] = (),
        agent_ids: Collection[int] = (),
        decided: Mapping[str, OfferState] | None = None,
    ) -> None:
        """Bring some conversations and agents in line with the store, after another replica changed them.

        Only loads: no decision, no event (the replica that made the change decided and published).  Reloading what
        the store already shows changes nothing, so replaying a change twice is harmless.  ``decided`` names the final
        state of offers decided elsewhere, so that a late accept here is told "timed out" rather than "unknown".
        """
        with self._lock:
            now = self.clock()
            for agent_id in agent_ids:
                for agent in self.store.load_agents(agent_id):
                    old = self.agents.agents.get(agent.id)
                    if old is not None:
                        agent.load, agent.connected = old.load, old.connected
                    self.agents.upsert(agent)
            if not conversation_ids:
                return
            items, offers = self.store.load_live(conversation_ids)
            before = {c: self._forget(c, decided or {}, now) for c in conversation_ids}
            pending = {o.item_id: o for o in offers}
            for item in items:
                self._restore(item, pending.get(item.id), now)
                was = before.get(item.conversation_id)
                if item.state is ItemState.assigned and was is not None and was.state is not ItemState.assigned:
                    self._answers.record(now, item.skill, now - item.enqueued_at)  # keeps this replica's ETA honest

    # ------------------------------------------------------------------ queries
    def status_of(self, conversation_id: str) -> QueueStatus:
        """Queue feedback for the shopper: position among items competing for the same skill, and an ETA."""
        with self._lock:
            item = self._live(conversation_id)
            online = self.agents_online()
            if item.state is not ItemState.waiting:
                return QueueStatus(item.state, 0, 0.0, online)
            place = position(item, self.items.values())
            return QueueStatus(item.state, place, self._answers.eta(self.clock(), item.skill, place), online)

    def offers_for(self, agent_id: int) -> list[Offer]:
        with self._lock:
            return sorted(self.offers.for_agent(agent_id), key=lambda o: o.created_at)

    def offers_with_items(self, agent_id: int | None = None) -> list[tuple[Offer, WorkItem | None]]:
        """Pending offers (of one agent, or all) with their conversations, copied under the lock: request threads
        must not iterate the engine's dicts while a decision changes them."""
        with self._lock:
            offers = self.offers.for_agent(agent_id) if agent_id is not None else list(self.offers.pending.values())
            pairs = [(copy.copy(o), self.items.get(o.conversation_id)) for o in offers]
            return sorted(((o, copy.copy(i) if i else None) for o, i in pairs), key=lambda p: p[0].created_at)

    def agents_snapshot(self) -> list[AgentState]:
        """Every known agent as of now (copies taken under the lock)."""
        with self._lock:
            return [dataclasses.replace(a, load=dict(a.load)) for a in self.agents.agents.values()]

    def held_by(self) -> dict[int, int]:
        """How many conversations each agent holds (accepted), by agent id."""
        with self._lock:
            return {a: len(convs) for a, convs in self._assigned.items() if convs}

    def conversations_for(self, agent_id: int) -> list[WorkItem]:
        with self._lock:
            return [self.items[c] for c in sorted(self._assigned.get(agent_id, ())) if c in self.items]

    def overview(self) -> dict[str, Any]:
        """Queue overview for supervisors: per skill waiting / offered / assigned, oldest wait, agents online."""
        with self._lock:
            now = self.clock()
            return {
                "skills": overview_by_skill(self.items.values(), now, self.agents_online),
                "agents_online": self.agents_online(),
                "pending_offers": len(self.offers.pending),
                "asa_recent_s": self._answers.recent_asa(now),
            }
