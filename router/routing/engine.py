"""The routing engine facade: hands conversations waiting for a human to agents.

It ties eligibility (who may take what), selection (what next, to whom) and reservation (offers and timers)
together, keeps in-memory indexes for fast decisions and writes every transition through the store in one
transaction.  Time comes from an injectable ``clock`` so a SimPy simulation can drive it with virtual time.

Callbacks subscribed to :attr:`RoutingEngine.events` run synchronously inside engine operations: they must not call
back into the engine (schedule work instead, e.g. ``loop.call_soon_threadsafe``).
"""

from __future__ import annotations

import uuid
from typing import Any

from router.routing.config import Clock, EngineConfig, EventBus
from router.routing.errors import (
    AlreadyQueued,
    InvalidTransfer,
    NoAgentOnline,
    NotAssigned,
    OfferNotPending,
    UnknownAgent,
)
from router.routing.feedback import QueueStatus
from router.routing.models import KNOWN_SKILLS, AgentState, AgentStatus, ItemState, OfferState, RoutingEvent, WorkItem
from router.routing.queries import EngineQueries
from router.routing.recovery import Recovery

__all__ = ["Clock", "EngineConfig", "EventBus", "QueueStatus", "RoutingEngine"]
TRANSFER_PRIORITY_BONUS = 2
NEVER_AGAIN_S = 24 * 3600.0


class RoutingEngine(Recovery, EngineQueries):
    """Skill-based routing with priority + aging, relaxation by wait time, capacity and offers.

    The state and the lock come from :class:`~router.routing.core.EngineCore`, offers from
    :class:`~router.routing.dispatch.Dispatcher`, the rebuild from the store from
    :class:`~router.routing.recovery.Recovery`, the read-only views from :class:`~router.routing.queries.EngineQueries`;
    the decisions below are the rest of the engine's API."""

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


    # ------------------------------------------------------------------ offers
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
