"""Queue feedback: a shopper's place in the queue, an ETA from recent answer speed, the supervisors' overview."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from router.routing.models import ItemState, WorkItem


@dataclass(frozen=True)
class QueueStatus:
    """What the shopper is told: place in the queue (1 = next), estimated wait, whether anyone is online."""

    state: ItemState
    position: int
    eta_s: float | None
    agents_online: int


class AnswerLog:
    """Recent answers (accepted at, skill, seconds waited), for the ETA and the recent ASA."""

    def __init__(self, window_s: float, maxlen: int = 2000) -> None:
        self.window_s = window_s
        self._answers: deque[tuple[float, str, float]] = deque(maxlen=maxlen)

    def record(self, now: float, skill: str, waited_s: float) -> None:
        self._answers.append((now, skill, waited_s))

    def eta(self, now: float, skill: str, position: int) -> float | None:
        """Seconds until answered: ``position`` over the rate of recent answers for the skill (or overall when the
        skill has fewer than five); None when nothing was answered recently."""
        recent = [(t, s, w) for t, s, w in self._answers if now - t <= self.window_s]
        same = [r for r in recent if r[1] == skill]
        basis = same if len(same) >= 5 else recent
        if not basis:
            return None
        span = max(now - min(t for t, _, _ in basis), 60.0)
        return round(position / (len(basis) / span), 1)

    def recent_asa(self, now: float) -> float | None:
        recent = [w for t, _, w in self._answers if now - t <= self.window_s]
        return round(sum(recent) / len(recent), 1) if recent else None


def position(item: WorkItem, items: Iterable[WorkItem]) -> int:
    """1-based place among the waiting items of the same channel and skill (the order the queue serves them)."""
    ahead = sum(
        1
        for other in items
        if other.state is ItemState.waiting
        and other.skill == item.skill
        and other.channel == item.channel
        and (other.sort_key, other.seq) < (item.sort_key, item.seq)
    )
    return ahead + 1


def overview_by_skill(items: Iterable[WorkItem], now: float, agents_online: Callable[[str], int]) -> dict[str, Any]:
    skills: dict[str, dict[str, Any]] = {}
    for item in items:
        row = skills.setdefault(item.skill, {"waiting": 0, "offered": 0, "assigned": 0, "oldest_wait_s": 0.0})
        row[item.state.value] += 1
        if item.state is ItemState.waiting:
            row["oldest_wait_s"] = max(row["oldest_wait_s"], round(now - item.enqueued_at, 1))
    for skill, row in skills.items():
        row["agents_online"] = agents_online(skill)
    return skills
