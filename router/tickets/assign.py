"""Ticket assignment through the skill router's view of agents: skill first, then who is online, then load."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from router.routing.models import AgentState, AgentStatus
from router.routing.protocol import RoutingEngineProtocol
from router.tickets.models import Ticket

AgentDirectory = Callable[[], list[AgentState]]
OPEN_STATUSES = ("new", "assigned", "waiting_customer")


def engine_directory(engine: RoutingEngineProtocol) -> AgentDirectory:
    """Agents as the live routing engine knows them (status and skills current to the second)."""

    def agents() -> list[AgentState]:
        return engine.agents_snapshot()  # copies, under the lock

    return agents


def store_directory(store: object) -> AgentDirectory:
    """Agents read from the routing store (``SqlStore.load_agents``), for processes without an engine (CLI, sweeps)."""

    def agents() -> list[AgentState]:
        loaded: list[AgentState] = store.load_agents()  # type: ignore[attr-defined]
        return loaded

    return agents


class SkillAssigner:
    """Choose the agent for a ticket.

    Tickets are asynchronous work, so unlike chats they may go to an agent who is away or offline (they pick it up
    when back); online agents are still preferred so urgent tickets start moving at once. Among agents with the
    ticket's skill: online first, then higher proficiency, then fewer open tickets, then longest since last chat.
    When nobody has the skill, any agent qualifies (a general agent triages it) rather than leaving it unowned.
    """

    def __init__(self, directory: AgentDirectory) -> None:
        self.directory = directory

    def choose(self, session: Session, category: str, *, exclude: int | None = None) -> AgentState | None:
        agents = [a for a in self.directory() if a.id != exclude]
        if not agents:
            return None
        skilled = [a for a in agents if a.proficiency(category) > 0]
        pool = skilled or agents
        ids = [a.id for a in pool]
        load = dict(
            session.execute(
                select(Ticket.assignee_id, func.count())
                .where(Ticket.assignee_id.in_(ids), Ticket.status.in_(OPEN_STATUSES))
                .group_by(Ticket.assignee_id)
            ).all()
        )
        rank = {AgentStatus.online: 0, AgentStatus.away: 1, AgentStatus.offline: 2}
        return min(
            pool,
            key=lambda a: (rank[a.status], -a.proficiency(category), load.get(a.id, 0), a.last_assigned_at, a.id),
        )
