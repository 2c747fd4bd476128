"""What every part of the ticket service shares: configuration, sessions, loading a ticket, its history."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from router.clock import utcnow
from router.db import session_scope
from router.routing.protocol import RoutingEngineProtocol
from router.tickets.assign import SkillAssigner, engine_directory
from router.tickets.errors import TicketNotFound
from router.tickets.models import Ticket, TicketEvent
from router.tickets.sla import SlaPolicy

TopicLookup = Callable[[str], tuple[str, str] | None]  # text -> (faq id, category) from the knowledge base
# (agent id, event) after the transaction that assigned a ticket commits, e.g. pushed to the agent console
Notify = Callable[[int, dict[str, Any]], None]


class TicketCore:
    """Configuration and plumbing of :class:`~router.tickets.service.TicketService` (not used on its own)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        engine: RoutingEngineProtocol | None = None,
        sla: SlaPolicy | None = None,
        assigner: SkillAssigner | None = None,
        topic_lookup: TopicLookup | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """``engine`` (the live ``RoutingEngine``) is shorthand for assignment through its view of the agents."""
        self.sessions = session_factory
        self.sla = sla or SlaPolicy()
        if assigner is None and engine is not None:
            assigner = SkillAssigner(engine_directory(engine))
        self.assigner = assigner
        self.topic_lookup = topic_lookup
        self.clock = clock
        self.listeners: list[Notify] = []

    @contextmanager
    def _tx(self, session: Session | None) -> Iterator[Session]:
        if session is not None:
            yield session
            return
        with session_scope(self.sessions) as own:
            yield own

    def _load(self, s: Session, ticket_id: int | str, *, for_update: bool = False) -> Ticket:
        query = select(Ticket)
        if isinstance(ticket_id, int) or (str(ticket_id).isascii() and str(ticket_id).isdigit()):
            if not 0 < int(ticket_id) < 2**62:  # no row has such an id (and SQLite cannot bind it)
                raise TicketNotFound(ticket_id)
            query = query.where(Ticket.id == int(ticket_id))
        else:
            query = query.where(Ticket.ref == str(ticket_id))
        if for_update:
            query = query.with_for_update()
        ticket = s.scalar(query)
        if ticket is None:
            raise TicketNotFound(ticket_id)
        return ticket

    def _log(self, s: Session, ticket: Ticket, type_: str, actor_id: int | None, **data: Any) -> TicketEvent:
        event = TicketEvent(ticket_id=ticket.id, type=type_, actor_id=actor_id, data=data, created_at=self.clock())
        s.add(event)
        return event
