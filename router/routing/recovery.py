"""Recovery: the routing engine's memory rebuilt from the store, after a restart or another replica's change."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from router.routing.dispatch import Dispatcher
from router.routing.models import ItemState, OfferState


class Recovery(Dispatcher):
    """Loading the state the store holds: everything at start-up (:meth:`recover`), or some conversations and
    agents that another replica changed (:meth:`refresh`)."""

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
