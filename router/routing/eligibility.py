"""Eligibility: which agents may take which conversation, given skills, proficiency relaxed by wait time,
capacity per channel, language and status.  Keeps the index of agents with free capacity."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from router.routing.models import AgentState, WorkItem


@dataclass(frozen=True)
class RelaxationPolicy:
    """Minimum proficiency by time waited: ``steps`` are (seconds waited, minimum proficiency), ascending;
    after ``any_agent_after_s`` any online agent qualifies, whatever their skills.

    Tier ``i < len(steps)`` means step ``i`` applies; tier ``len(steps)`` is "any agent".
    """

    steps: tuple[tuple[float, int], ...] = ((0.0, 3), (60.0, 1))
    any_agent_after_s: float | None = 180.0

    def __post_init__(self) -> None:
        if not self.steps or self.steps[0][0] != 0.0:
            raise ValueError("the first relaxation step must start at 0 s")
        times = [t for t, _ in self.steps]
        if times != sorted(times):
            raise ValueError("relaxation steps must be in ascending time order")
        if self.any_agent_after_s is not None and self.any_agent_after_s < times[-1]:
            raise ValueError("any_agent_after_s must come after the last step")

    @property
    def any_tier(self) -> int:
        return len(self.steps)

    @property
    def tiers(self) -> int:
        return len(self.steps) + (1 if self.any_agent_after_s is not None else 0)

    def tier_for_wait(self, waited_s: float) -> int:
        if self.any_agent_after_s is not None and waited_s >= self.any_agent_after_s:
            return self.any_tier
        tier = 0
        for i, (t, _) in enumerate(self.steps):
            if waited_s >= t:
                tier = i
        return tier

    def min_proficiency(self, tier: int) -> int | None:
        """Minimum proficiency in the required skill at this tier; ``None`` means any agent."""
        if tier >= len(self.steps):
            return None
        return self.steps[tier][1]

    def next_tier_after(self, tier: int) -> float | None:
        """Seconds of waiting at which the tier after ``tier`` starts, or None when it is the last one."""
        if tier + 1 < len(self.steps):
            return self.steps[tier + 1][0]
        if tier < len(self.steps) and self.any_agent_after_s is not None:
            return self.any_agent_after_s
        return None

    def tiers_for_proficiency(self, proficiency: int) -> list[int]:
        """Skill tiers (not the any-agent tier) whose minimum this proficiency meets."""
        return [i for i, (_, p) in enumerate(self.steps) if proficiency >= p]


def agent_can_take(agent: AgentState, item: WorkItem, now: float, *, skill_floor: int | None) -> bool:
    """Hard constraints besides skill: status and connection, capacity, language, exclusion after reject/timeout,
    targeted transfer.

    ``skill_floor`` is the minimum proficiency in ``item.skill``; ``None`` skips the skill check.
    """
    if not agent.available or agent.free(item.channel) <= 0:
        return False
    if item.target_agent_id is not None and item.target_agent_id != agent.id:
        return False
    if item.language not in agent.languages:
        return False
    until = item.excluded.get(agent.id)
    if until is not None and until > now:
        return False
    return skill_floor is None or agent.proficiency(item.skill) >= skill_floor


class AgentIndex:
    """Agents by id plus, per channel and per (channel, skill), the online agents with free capacity.

    The sets are kept in step by :meth:`refresh`, called whenever an agent's status, skills or load changes, so a
    decision looks only at agents who could take work right now instead of scanning every agent.
    """

    def __init__(self) -> None:
        self.agents: dict[int, AgentState] = {}
        self._free_by_channel: dict[str, set[int]] = defaultdict(set)
        self._free_by_skill: dict[tuple[str, str], set[int]] = defaultdict(set)
        self._memberships: dict[int, list[tuple[str, str | None]]] = {}
        # online agents overall and per skill (any proficiency), kept so "is anyone online?" costs O(1)
        self._online: set[int] = set()
        self._online_by_skill: dict[str, set[int]] = defaultdict(set)
        self._online_skills: dict[int, list[str]] = {}

    def upsert(self, agent: AgentState) -> None:
        self.agents[agent.id] = agent
        self.refresh(agent)

    def refresh(self, agent: AgentState) -> None:
        for channel, skill in self._memberships.pop(agent.id, []):
            if skill is None:
                self._free_by_channel[channel].discard(agent.id)
            else:
                self._free_by_skill[(channel, skill)].discard(agent.id)
        for skill in self._online_skills.pop(agent.id, []):
            self._online_by_skill[skill].discard(agent.id)
        self._online.discard(agent.id)
        if not agent.available:
            return
        self._online.add(agent.id)
        self._online_skills[agent.id] = [s for s, p in agent.skills.items() if p > 0]
        for skill in self._online_skills[agent.id]:
            self._online_by_skill[skill].add(agent.id)
        members: list[tuple[str, str | None]] = []
        for channel in agent.capacity:
            if agent.free(channel) <= 0:
                continue
            self._free_by_channel[channel].add(agent.id)
            members.append((channel, None))
            for skill in agent.skills:
                self._free_by_skill[(channel, skill)].add(agent.id)
                members.append((channel, skill))
        self._memberships[agent.id] = members

    def free_agents(self, channel: str, skill: str | None) -> Iterable[AgentState]:
        ids = self._free_by_channel.get(channel, set()) if skill is None else self._free_by_skill.get((channel, skill))
        return (self.agents[i] for i in ids or ())

    def online(self, skill: str | None = None) -> list[AgentState]:
        """Online agents, or online agents having ``skill`` (any proficiency)."""
        ids = self._online if skill is None else self._online_by_skill.get(skill, set())
        return [self.agents[i] for i in ids]

    def online_count(self, skill: str | None = None) -> int:
        return len(self._online if skill is None else self._online_by_skill.get(skill, ()))
