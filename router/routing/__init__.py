"""Skill-based routing of conversations to human agents (engine, persistence, simulation)."""

from __future__ import annotations

from router.routing.engine import EngineConfig, QueueStatus, RoutingEngine
from router.routing.errors import NoAgentOnline, RoutingError
from router.routing.models import AgentState, AgentStatus, ItemState, Offer, OfferState, RoutingEvent, WorkItem
from router.routing.protocol import RoutingDecisions, RoutingEngineProtocol, RoutingReads

__all__ = [
    "AgentState",
    "AgentStatus",
    "EngineConfig",
    "ItemState",
    "NoAgentOnline",
    "Offer",
    "OfferState",
    "QueueStatus",
    "RoutingDecisions",
    "RoutingEngine",
    "RoutingEngineProtocol",
    "RoutingError",
    "RoutingEvent",
    "RoutingReads",
    "WorkItem",
]
