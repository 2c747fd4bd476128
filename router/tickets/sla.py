"""SLA timers of tickets: due times per category and priority, the pause while waiting on the customer, breaches."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from router.clock import aware

if TYPE_CHECKING:
    from router.settings import Settings
    from router.tickets.models import Ticket

DEFAULT_SLA: dict[str, tuple[float, float]] = {
    "vip": (1800.0, 12 * 3600.0),
    "after_sales": (2 * 3600.0, 48 * 3600.0),
    "logistics": (2 * 3600.0, 24 * 3600.0),
    "billing": (4 * 3600.0, 72 * 3600.0),
    "product": (4 * 3600.0, 72 * 3600.0),
    "general": (8 * 3600.0, 72 * 3600.0),
}

# an open ticket is "at risk" when a timer runs out within this many seconds (or already has)
AT_RISK_S = 3600.0


@dataclass(frozen=True)
class SlaPolicy:
    """First-response and resolution targets (seconds) per category; urgent tickets get half the time."""

    targets: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_SLA))
    urgent_priority: int = 6

    @classmethod
    def from_settings(cls, settings: Settings) -> SlaPolicy:
        return cls(targets=dict(settings.ticket_sla), urgent_priority=settings.ticket_urgent_priority)

    def targets_for(self, category: str, priority: int) -> tuple[float, float]:
        first, resolve = self.targets.get(category) or self.targets.get("general") or DEFAULT_SLA["general"]
        if priority >= self.urgent_priority:
            return first / 2, resolve / 2
        return first, resolve

    def due(self, category: str, priority: int, start: datetime) -> tuple[datetime, datetime]:
        first, resolve = self.targets_for(category, priority)
        start = aware(start)
        return start + timedelta(seconds=first), start + timedelta(seconds=resolve)


@dataclass(frozen=True)
class SlaState:
    """Where a ticket stands against its SLA at ``now`` (what the console shows as timers)."""

    first_response_due_at: datetime
    resolution_due_at: datetime
    first_response_remaining_s: float | None  # None once answered
    resolution_remaining_s: float | None  # None once resolved; frozen while waiting on the customer
    first_response_breached: bool
    resolution_breached: bool
    paused: bool

    @property
    def at_risk(self) -> bool:
        """Breached, or a running timer ends within :data:`AT_RISK_S` (never while paused)."""
        if self.paused:
            return False
        timers = (self.first_response_remaining_s, self.resolution_remaining_s)
        if all(t is None for t in timers):
            return False  # answered and resolved
        return self.first_response_breached or self.resolution_breached or any(
            t is not None and t <= AT_RISK_S for t in timers
        )


def sla_state(ticket: Ticket, now: datetime) -> SlaState:
    now = aware(now)
    first_due = aware(ticket.first_response_due_at)
    resolve_due = aware(ticket.resolution_due_at)
    paused = ticket.waiting_since is not None
    if paused:
        # the clock stopped when the ticket started waiting on the customer
        assert ticket.waiting_since is not None
        resolve_due = resolve_due + (now - aware(ticket.waiting_since))
    first_done = aware(ticket.first_responded_at) if ticket.first_responded_at else None
    resolved = aware(ticket.resolved_at) if ticket.resolved_at else None
    first_breached = ticket.first_response_breached or (first_done or now) > first_due
    resolution_breached = ticket.resolution_breached or (resolved or now) > resolve_due
    return SlaState(
        first_response_due_at=first_due,
        resolution_due_at=resolve_due,
        first_response_remaining_s=None if first_done else round((first_due - now).total_seconds(), 1),
        resolution_remaining_s=None if resolved else round((resolve_due - now).total_seconds(), 1),
        first_response_breached=first_breached,
        resolution_breached=resolution_breached,
        paused=paused,
    )
