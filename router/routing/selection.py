"""Selection: which waiting conversation an agent gets next (priority plus aging), and which agent a
conversation goes to (best proficiency, then longest idle).

Ordering key: ``enqueued_at - priority * priority_weight_s``.  Every waiting item ages at the same rate, so the
order by "priority * weight + seconds waited" never changes while items wait and the key can stay fixed in a heap.
It is the escalation policy's queue rank (knowledge_base/escalation.py); priorities themselves come from the policy.
"""

from __future__ import annotations

import enum
import heapq
import random
from collections.abc import Callable, Iterable

from router.routing.eligibility import RelaxationPolicy
from router.routing.models import AgentState, ItemState, WorkItem

# how many eligible-but-not-for-this-agent heap entries (excluded, other language) one look may step over;
# keeps a decision bounded when many items rejected the same agent
SCAN_LIMIT = 64


class AgentChoice(enum.StrEnum):
    """How to pick among eligible free agents: ``best`` = highest proficiency then longest idle (skill-based),
    ``longest_idle`` = ignore proficiency, ``random`` = uniformly at random (benchmark baselines)."""

    best = "best"
    longest_idle = "longest_idle"
    random = "random"


def sort_key(item: WorkItem, priority_weight_s: float) -> float:
    """The escalation policy's queue rank (priority + seconds waited / aging, knowledge_base/escalation.py
    ``queue_rank``) as a key that does not change while items wait: the smaller the key, the higher the rank."""
    return item.enqueued_at - item.priority * priority_weight_s


HeapKey = tuple[str, str | None, int]  # (channel, skill or None for the any-agent tier, tier)
Entry = tuple[float, int, int, WorkItem]  # (sort key, item sequence, item version, item)


class QueueIndex:
    """Per (channel, skill, tier) heaps of waiting items plus one any-agent heap per channel.

    Entries are never removed in place: an item that leaves the queue or changes tier bumps its ``version`` and
    its old entries are dropped when they reach the top (lazy deletion).
    """

    def __init__(self, policy: RelaxationPolicy) -> None:
        self.policy = policy
        self._heaps: dict[HeapKey, list[Entry]] = {}

    def push(self, item: WorkItem) -> None:
        """(Re)insert a waiting item under its current tier; older entries of the item become stale."""
        item.version += 1
        skill: str | None = None if item.tier >= self.policy.any_tier else item.skill
        tier = item.tier if skill is not None else self.policy.any_tier
        heap = self._heaps.setdefault((item.channel, skill, tier), [])
        heapq.heappush(heap, (item.sort_key, item.seq, item.version, item))

    @staticmethod
    def _valid(entry: Entry) -> bool:
        _, _, version, item = entry
        return item.state is ItemState.waiting and item.version == version and item.target_agent_id is None

    def _first_for(self, heap: list[Entry], accept: Callable[[WorkItem], bool]) -> WorkItem | None:
        skipped: list[Entry] = []
        found: WorkItem | None = None
        while heap and len(skipped) < SCAN_LIMIT:
            entry = heap[0]
            if not self._valid(entry):
                heapq.heappop(heap)
                continue
            if accept(entry[3]):
                found = entry[3]
                break
            skipped.append(heapq.heappop(heap))
        for entry in skipped:
            heapq.heappush(heap, entry)
        return found

    def best_for_agent(
        self,
        agent: AgentState,
        channels: Iterable[str],
        accept: Callable[[WorkItem], bool],
        *,
        ignore_skills: bool,
        proficiency_weight_s: float = 0.0,
    ) -> WorkItem | None:
        """The best item this agent may take across the heaps it qualifies for: priority+aging order, where each
        point of the agent's proficiency in the item's skill counts as ``proficiency_weight_s`` seconds of waiting
        (so a free specialist takes fresh work of their own skill before older overflow of another skill)."""
        best: WorkItem | None = None
        best_score = 0.0
        for channel in channels:
            keys: list[HeapKey] = [(channel, None, self.policy.any_tier)]
            if not ignore_skills:
                for skill, proficiency in agent.skills.items():
                    keys.extend((channel, skill, t) for t in self.policy.tiers_for_proficiency(proficiency))
            for key in keys:
                heap = self._heaps.get(key)
                if not heap:
                    continue
                item = self._first_for(heap, accept)
                if item is None:
                    continue
                score = item.sort_key - proficiency_weight_s * agent.proficiency(item.skill)
                if best is None or score < best_score:
                    best, best_score = item, score
        return best

    def compact(self) -> None:
        """Drop stale entries everywhere (called now and then so memory stays proportional to the queue)."""
        for key, heap in list(self._heaps.items()):
            live = [e for e in heap if self._valid(e)]
            if len(live) != len(heap):
                heapq.heapify(live)
                self._heaps[key] = live

    def entries(self) -> int:
        return sum(len(h) for h in self._heaps.values())


def choose_agent(
    candidates: Iterable[AgentState], item: WorkItem, mode: AgentChoice, rng: random.Random
) -> AgentState | None:
    """Pick among eligible free agents; ties on proficiency go to the agent idle the longest."""
    if mode is AgentChoice.random:
        pool = list(candidates)
        return rng.choice(pool) if pool else None
    if mode is AgentChoice.longest_idle:
        return min(candidates, key=lambda a: (a.last_assigned_at, a.id), default=None)
    return min(candidates, key=lambda a: (-a.proficiency(item.skill), a.last_assigned_at, a.id), default=None)
