"""Helpers shared by the routing tests."""

from __future__ import annotations

from router.routing.models import AgentState, AgentStatus


class VirtualClock:
    """Time that only moves when the test says so (the engine's clock is injectable)."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def agent(
    agent_id: int,
    skills: dict[str, int],
    *,
    capacity: int = 1,
    idle_since: float = 0.0,
    languages: tuple[str, ...] = ("zh",),
    status: AgentStatus = AgentStatus.online,
) -> AgentState:
    return AgentState(
        id=agent_id,
        name=f"客服{agent_id}",
        skills=skills,
        capacity={"chat": capacity},
        languages=frozenset(languages),
        status=status,
        last_assigned_at=idle_since,
    )
