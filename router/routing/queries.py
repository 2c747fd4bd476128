"""Read-only views of the routing engine: queue feedback, offers, agents; copies taken under the lock."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from router.routing.core import EngineCore
from router.routing.feedback import QueueStatus, overview_by_skill, position
from router.routing.models import AgentState, ItemState, Offer, WorkItem


class EngineQueries(EngineCore):
    """What the API, the supervisors and the shoppers' queue feedback read; nothing here changes the state."""

    def get_agent(self, agent_id: int) -> AgentState:
        return self._agent(agent_id)


    def agents_online(self, skill: str | None = None) -> int:
        """Online agents having ``skill`` (any proficiency), or all online agents."""
        return self.agents.online_count(skill)


    def next_due(self) -> float | None:
        return self.timers.next_due()


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
