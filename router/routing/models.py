"""Plain data of the routing engine: agents, waiting conversations (work items), offers, events.

Times are float seconds from the engine's clock (Unix time in production, virtual time in simulation).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from typing import Any

DEFAULT_CHANNEL = "chat"
DEFAULT_LANGUAGE = "zh"
KNOWN_SKILLS = ("after_sales", "logistics", "billing", "product", "vip", "general")


class AgentStatus(enum.StrEnum):
    online = "online"
    away = "away"
    offline = "offline"


class ItemState(enum.StrEnum):
    waiting = "waiting"
    offered = "offered"
    assigned = "assigned"
    closed = "closed"
    abandoned = "abandoned"
    transferred = "transferred"


ACTIVE_ITEM_STATES = (ItemState.waiting, ItemState.offered, ItemState.assigned)


class OfferState(enum.StrEnum):
    pending = "pending"
    accepted = "accepted"
    rejected = "rejected"
    timed_out = "timed_out"
    rescinded = "rescinded"


@dataclass
class AgentState:
    """An agent as the engine sees it. ``load`` counts pending offers and assigned conversations per channel.

    ``status`` is what the agent chose (persisted); ``connected`` is whether she has a live console connection
    (router.presence; not persisted, every replica learns it from the shared presence).  She gets offers only when
    :attr:`available`: online *and* connected.
    """

    id: int
    name: str
    skills: dict[str, int] = field(default_factory=dict)
    languages: frozenset[str] = frozenset({DEFAULT_LANGUAGE})
    capacity: dict[str, int] = field(default_factory=lambda: {DEFAULT_CHANNEL: 3})
    status: AgentStatus = AgentStatus.offline
    last_assigned_at: float = 0.0
    load: dict[str, int] = field(default_factory=dict)
    connected: bool = True

    @property
    def available(self) -> bool:
        return self.status is AgentStatus.online and self.connected

    def free(self, channel: str) -> int:
        return self.capacity.get(channel, 0) - self.load.get(channel, 0)

    def proficiency(self, skill: str) -> int:
        return self.skills.get(skill, 0)

    def same_profile(self, other: AgentState) -> bool:
        """Equal in everything a reload from the database sets (all but the live ``load`` and ``connected``)."""
        return all(
            getattr(self, f.name) == getattr(other, f.name) for f in fields(self) if f.name not in _LIVE_FIELDS
        )


_LIVE_FIELDS = frozenset({"load", "connected"})  # kept by the engine across reloads of an agent's profile


@dataclass
class WorkItem:
    """One hand-off of a conversation to humans (a row of ``handoffs``), alive while waiting/offered/assigned."""

    id: str
    conversation_id: str
    customer_id: str
    channel: str
    skill: str
    priority: int
    enqueued_at: float
    language: str = DEFAULT_LANGUAGE
    state: ItemState = ItemState.waiting
    reason: str = "request_human"
    note: str | None = None
    agent_id: int | None = None
    target_agent_id: int | None = None
    transferred_from: str | None = None
    # agent id -> time until which that agent is not offered this item again (after a reject / timeout)
    excluded: dict[int, float] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    # engine-internal bookkeeping (not persisted): relaxation tier and a version that invalidates old heap entries
    tier: int = 0
    version: int = 0
    seq: int = 0
    sort_key: float = 0.0


@dataclass
class Offer:
    id: str
    item_id: str
    conversation_id: str
    agent_id: int
    created_at: float
    deadline: float
    state: OfferState = OfferState.pending
    decided_at: float | None = None


@dataclass(frozen=True)
class RoutingEvent:
    """Something an agent UI or the gateway should learn about.

    ``type`` is one of: offer, offer_rescinded, offer_timed_out, offer_rejected, assigned, closed, transferred,
    abandoned, queued, presence.
    """

    type: str
    conversation_id: str
    agent_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {"type": self.type, "conversation_id": self.conversation_id, "agent_id": self.agent_id, **self.data}
