"""The routing engine's API for a replica of a cluster: every method spelled out, each a read or a decision.

Decisions (:class:`~router.routing.protocol.RoutingDecisions`) run under the cluster lock through
:meth:`Replica._decide`; reads (:class:`~router.routing.protocol.RoutingReads`) replay the change log and answer from
memory through :meth:`Replica._read`.  There is no catch-all forwarding: an engine method added without its
counterpart here fails ``tests/router/test_engine_protocol.py`` instead of silently running without the lock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Mapping
from typing import Any

from router.cluster.replica import Replica
from router.routing.feedback import QueueStatus
from router.routing.models import AgentState, AgentStatus, Offer, OfferState, WorkItem
from router.routing.reservation import OfferBook


class ClusteredEngine(Replica):
    """A :class:`~router.routing.engine.RoutingEngine` stand-in that stays consistent with the other replicas
    (see :mod:`router.cluster`); implements :class:`~router.routing.protocol.RoutingEngineProtocol`."""

    # ------------------------------------------------------------------ reads that replay nothing
    def clock(self) -> float:
        return self._engine.clock()

    def next_due(self) -> float | None:
        """When this replica's next timer is due, from memory without waiting for anything: the timer loop asks from
        the event loop.  (Replicas learn each other's timers when :meth:`tick` replays the log.)"""
        with contextlib.suppress(IndexError):  # the heap emptied under us: nothing due
            return self._engine.next_due()
        return None

    @property
    def items(self) -> Mapping[str, WorkItem]:
        """The live items as this replica last saw them (no replay: a view, not a decision)."""
        return self._engine.items

    @property
    def offers(self) -> OfferBook:
        """The pending offers as this replica last saw them (no replay)."""
        return self._engine.offers

    # ------------------------------------------------------------------ reads
    def get_agent(self, agent_id: int) -> AgentState:
        return self._read(lambda engine: engine.get_agent(agent_id))

    def agents_online(self, skill: str | None = None) -> int:
        return self._read(lambda engine: engine.agents_online(skill))

    def status_of(self, conversation_id: str) -> QueueStatus:
        return self._read(lambda engine: engine.status_of(conversation_id))

    def offers_for(self, agent_id: int) -> list[Offer]:
        return self._read(lambda engine: engine.offers_for(agent_id))

    def offers_with_items(self, agent_id: int | None = None) -> list[tuple[Offer, WorkItem | None]]:
        return self._read(lambda engine: engine.offers_with_items(agent_id))

    def agents_snapshot(self) -> list[AgentState]:
        return self._read(lambda engine: engine.agents_snapshot())

    def held_by(self) -> dict[int, int]:
        return self._read(lambda engine: engine.held_by())

    def conversations_for(self, agent_id: int) -> list[WorkItem]:
        return self._read(lambda engine: engine.conversations_for(agent_id))

    def overview(self) -> dict[str, Any]:
        return self._read(lambda engine: engine.overview())

    def refresh(
        self,
        *,
        conversation_ids: Collection[str] = (),
        agent_ids: Collection[int] = (),
        decided: Mapping[str, OfferState] | None = None,
    ) -> None:
        """Reload some conversations and agents from the database (after the log's own replay)."""
        self._read(
            lambda engine: engine.refresh(conversation_ids=conversation_ids, agent_ids=agent_ids, decided=decided)
        )

    # ------------------------------------------------------------------ decisions: agents
    def upsert_agent(self, agent: AgentState) -> AgentState:
        # the profile comes from outside any store transaction: name it on the log explicitly
        return self._decide(lambda engine: engine.upsert_agent(agent), agents={agent.id})

    def reload_agent(self, agent_id: int) -> AgentState:
        """The agent's profile as the database has it.  Logging in and choosing a status re-read it in case a
        supervisor changed it meanwhile; when it is what this replica's engine holds already (after replaying the
        log), nothing is decided and no cluster lock is taken (a shift of agents logging in at once queued for it).
        A changed profile is a decision; it is read outside a store transaction, so the log names it explicitly."""
        rows = self._store.load_agents(agent_id)
        if rows:
            held = self._read(lambda engine: engine.agents.agents.get(agent_id))
            if held is not None and held.same_profile(rows[0]):
                return held
        return self._decide(lambda engine: engine.reload_agent(agent_id), agents={agent_id})

    def set_status(self, agent_id: int, status: AgentStatus) -> AgentState:
        return self._decide(lambda engine: engine.set_status(agent_id, status))

    def set_presence(self, agent_id: int, connected: bool, *, reason: str = "agent_disconnected") -> AgentState:
        return self._decide(lambda engine: engine.set_presence(agent_id, connected, reason=reason))

    def requeue_held(self, agent_id: int, *, reason: str = "agent_lost") -> list[WorkItem]:
        return self._decide(lambda engine: engine.requeue_held(agent_id, reason=reason))

    # ------------------------------------------------------------------ decisions: conversations and offers
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
    ) -> WorkItem:
        return self._decide(
            lambda engine: engine.enqueue(
                conversation_id=conversation_id,
                customer_id=customer_id,
                skill=skill,
                priority=priority,
                channel=channel,
                language=language,
                reason=reason,
                note=note,
                context=context,
            )
        )

    def accept(self, offer_id: str, agent_id: int) -> WorkItem:
        return self._decide(lambda engine: engine.accept(offer_id, agent_id))

    def reject(self, offer_id: str, agent_id: int) -> WorkItem:
        return self._decide(lambda engine: engine.reject(offer_id, agent_id))

    def rescind(self, offer_id: str) -> WorkItem:
        return self._decide(lambda engine: engine.rescind(offer_id))

    def close(self, conversation_id: str, agent_id: int, reason: str = "resolved") -> WorkItem:
        return self._decide(lambda engine: engine.close(conversation_id, agent_id, reason))

    def abandon(self, conversation_id: str) -> WorkItem:
        return self._decide(lambda engine: engine.abandon(conversation_id))

    def transfer(
        self,
        conversation_id: str,
        agent_id: int,
        *,
        to_agent_id: int | None = None,
        to_skill: str | None = None,
        note: str | None = None,
    ) -> WorkItem:
        return self._decide(
            lambda engine: engine.transfer(
                conversation_id, agent_id, to_agent_id=to_agent_id, to_skill=to_skill, note=note
            )
        )

    # ------------------------------------------------------------------ decisions: time and start-up
    def tick(self) -> int:
        if not self._timer_due():
            return 0  # nothing due here: don't take the cluster lock just to find that out
        return self._decide(lambda engine: engine.tick())

    def recover(self) -> None:
        """Start-up: rebuild from the database under the lock and have every other replica reload as well."""
        self._decide(lambda engine: None, full=True)
