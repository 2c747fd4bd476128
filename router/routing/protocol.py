"""What the rest of the router may ask of "the routing engine", whichever engine runs.

One process routes with :class:`router.routing.engine.RoutingEngine`; several replicas route with
``router.cluster.ClusteredEngine``, which runs every decision under a cluster-wide lock.  Code that only *uses* the
engine (the API, the gateway, supervision, presence) is typed with :class:`RoutingEngineProtocol`, so it works with
either and cannot reach past what the clustered engine guards.

The members come in two groups, and the group is what the clustered engine goes by:

* :class:`RoutingDecisions` may change the routing state (and the database): the clustered engine runs each one under
  the cluster lock, after replaying the other replicas' changes, and logs what it committed;
* :class:`RoutingReads` answer from memory (after replaying the change log) and take no cluster lock.

``tests/router/test_engine_protocol.py`` checks that every public method of the engine belongs to one group, is
defined on the clustered engine, and that decisions (only they) run with the cluster lock held.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Protocol

from router.routing.config import EventBus
from router.routing.feedback import QueueStatus
from router.routing.models import AgentState, AgentStatus, Offer, OfferState, WorkItem
from router.routing.reservation import OfferBook


class RoutingReads(Protocol):
    """Answers from the engine's memory; nothing here decides anything."""

    def clock(self) -> float:
        """The engine's time (seconds; virtual in a simulation)."""
        ...

    @property
    def items(self) -> Mapping[str, WorkItem]:
        """Live work items by conversation id (the engine's own objects: read them, never change them)."""
        ...

    @property
    def offers(self) -> OfferBook:
        """The pending offers (read only)."""
        ...

    def get_agent(self, agent_id: int) -> AgentState: ...

    def agents_online(self, skill: str | None = None) -> int: ...

    def next_due(self) -> float | None: ...

    def status_of(self, conversation_id: str) -> QueueStatus: ...

    def offers_for(self, agent_id: int) -> list[Offer]: ...

    def offers_with_items(self, agent_id: int | None = None) -> list[tuple[Offer, WorkItem | None]]: ...

    def agents_snapshot(self) -> list[AgentState]: ...

    def held_by(self) -> dict[int, int]: ...

    def conversations_for(self, agent_id: int) -> list[WorkItem]: ...

    def overview(self) -> dict[str, Any]: ...

    def refresh(
        self,
        *,
        conversation_ids: Collection[str] = (),
        agent_ids: Collection[int] = (),
        decided: Mapping[str, OfferState] | None = None,
    ) -> None:
        """Reload some conversations and agents from the store: it loads what another replica decided, it decides
        nothing itself (no event, no write), hence a read."""
        ...


class RoutingDecisions(Protocol):
    """Calls that may change the routing state: offers, assignments, queue entries, agents' status."""

    def upsert_agent(self, agent: AgentState) -> AgentState: ...

    def reload_agent(self, agent_id: int) -> AgentState: ...

    def set_status(self, agent_id: int, status: AgentStatus) -> AgentState: ...

    def set_presence(self, agent_id: int, connected: bool, *, reason: str = "agent_disconnected") -> AgentState: ...

    def requeue_held(self, agent_id: int, *, reason: str = "agent_lost") -> list[WorkItem]: ...

    def enqueue(
        self,
        *,
        conversation_id: str,
        customer_id: str,
        skill: str,
        priority: int = 0,
        channel: str = "chat",
        language: str = "zh",
        reason: str = "request_human",
        note: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> WorkItem: ...

    def accept(self, offer_id: str, agent_id: int) -> WorkItem: ...

    def reject(self, offer_id: str, agent_id: int) -> WorkItem: ...

    def rescind(self, offer_id: str) -> WorkItem: ...

    def close(self, conversation_id: str, agent_id: int, reason: str = "resolved") -> WorkItem: ...

    def abandon(self, conversation_id: str) -> WorkItem: ...

    def transfer(
        self,
        conversation_id: str,
        agent_id: int,
        *,
        to_agent_id: int | None = None,
        to_skill: str | None = None,
        note: str | None = None,
    ) -> WorkItem: ...

    def tick(self) -> int: ...

    def recover(self) -> None: ...


class RoutingEngineProtocol(RoutingReads, RoutingDecisions, Protocol):
    """The routing engine as its users see it (single process or clustered)."""

    events: EventBus
