"""Configuration of the routing engine and its event bus."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from router.routing.eligibility import RelaxationPolicy
from router.routing.models import RoutingEvent
from router.routing.selection import AgentChoice

if TYPE_CHECKING:
    from router.settings import Settings

Clock = Callable[[], float]


@dataclass(frozen=True)
class EngineConfig:
    offer_timeout_s: float = 30.0
    relaxation: RelaxationPolicy = field(default_factory=RelaxationPolicy)
    # one priority point is worth this many seconds of waiting in the queue order
    priority_weight_s: float = 30.0
    # when an agent frees up, each point of their proficiency in an item's skill counts as this many seconds of
    # waiting, so specialists serve their own skill first and take other skills' overflow when they have none
    proficiency_weight_s: float = 60.0
    # after a reject / timeout the same agent is not offered that conversation again for this long
    reoffer_cooldown_s: float = 120.0
    agent_choice: AgentChoice = AgentChoice.best
    ignore_skills: bool = False  # FIFO / random baselines: every item is open to every agent at once
    ignore_priority: bool = False
    require_online_agent: bool = True
    eta_window_s: float = 900.0
    seed: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> EngineConfig:
        return cls(
            offer_timeout_s=settings.offer_timeout_s,
            priority_weight_s=settings.priority_weight_s,
            reoffer_cooldown_s=settings.reoffer_cooldown_s,
            relaxation=RelaxationPolicy(
                steps=tuple((float(t), int(p)) for t, p in settings.relaxation_steps),
                any_agent_after_s=settings.relax_any_agent_after_s,
            ),
        )


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Callable[[RoutingEvent], None]] = []

    def subscribe(self, callback: Callable[[RoutingEvent], None]) -> Callable[[], None]:
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def publish(self, event: RoutingEvent) -> None:
        for callback in list(self._subscribers):
            callback(event)
