"""Offers: the engine's transitions that hand a conversation to an agent or take it back.

Selection picks the agent (or the item), reservation books the offer and its deadline; these methods write each
transition through a store transaction and queue the matching event.  They run inside an engine operation (the
caller holds the lock): ``_offer``, ``_release`` and ``_end`` write through the caller's transaction, the two
dispatchers open one per offer they make.
"""

from __future__ import annotations

from router.routing.core import EngineCore
from router.routing.eligibility import agent_can_take
from router.routing.errors import OfferNotPending
from router.routing.models import AgentState, ItemState, Offer, OfferState, WorkItem
from router.routing.selection import choose_agent
from router.routing.store import StoreTx


class Dispatcher(EngineCore):
    """Making, releasing and ending offers; filling free agents and offering waiting items."""

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

