"""Tickets: creation (left messages, unresolved conversations, agents), classification, priority, SLA, assignment
through the skill router, status changes and the history of every change.

``TicketService`` implements the gateway's ``TicketSink``. Every method takes an optional ``session``: the gateway
creates a ticket while its own transaction is open, and on SQLite a second writer would wait on that transaction's
lock, so it passes its session and the ticket commits (or rolls back) with the message that caused it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select

from router.clock import aware
from router.db import session_scope
from router.tickets.assign import OPEN_STATUSES
from router.tickets.errors import InvalidTransition
from router.tickets.intake import Context, TicketIntake
from router.tickets.models import Ticket, TicketEvent
from router.tickets.queries import TicketQueries
from router.tickets.sla import sla_state
from router.tickets.transitions import TRANSITIONS

__all__ = ["TRANSITIONS", "Context", "TicketService"]


class TicketService(TicketIntake, TicketQueries):
    """Tickets over SQL. Keyword-only configuration; ``clock`` is injectable for SLA tests.

    Creation and sweeps come from :class:`~router.tickets.intake.TicketIntake`, assignment from
    :class:`~router.tickets.assignment.TicketAssignment`, status changes from
    :class:`~router.tickets.transitions.TicketTransitions`, reading from :class:`~router.tickets.queries.TicketQueries`;
    edits, comments and the SLA sweep are below."""

    # ------------------------------------------------------------------ changes
    def update(
        self,
        ticket_id: int | str,
        *,
        actor_id: int | None,
        status: str | None = None,
        priority: int | None = None,
        category: str | None = None,
        assignee_id: int | None = None,
        note: str | None = None,
    ) -> Ticket:
        with session_scope(self.sessions) as s:
            ticket = self._load(s, ticket_id, for_update=True)
            if assignee_id is not None and assignee_id != ticket.assignee_id:
                self._require_agent(assignee_id)
                self._assign(s, ticket, assignee_id, actor=actor_id, how="manual", note=note)
            if category is not None and category != ticket.category:
                old = ticket.category
                ticket.category = category
                first_due, resolve_due = self.sla.due(category, ticket.priority, aware(ticket.created_at))
                ticket.first_response_due_at, ticket.resolution_due_at = first_due, resolve_due
                self._log(s, ticket, "category_changed", actor_id, old=old, new=category, note=note)
            if priority is not None and priority != ticket.priority:
                old_p = ticket.priority
                ticket.priority = priority
                first_due, resolve_due = self.sla.due(ticket.category, priority, aware(ticket.created_at))
                ticket.first_response_due_at, ticket.resolution_due_at = first_due, resolve_due
                self._log(s, ticket, "priority_changed", actor_id, old=old_p, new=priority, note=note)
            if status is not None and status != ticket.status:
                self._transition(s, ticket, status, actor_id, note=note)
            ticket.updated_at = self.clock()
            return ticket

    def comment(self, ticket_id: int | str, *, actor_id: int | None, text: str, public: bool = True) -> TicketEvent:
        """An agent's reply to the customer (``public``) or an internal note. The first public reply by an agent
        stops the first-response timer; a reply from the customer (actor None) takes a waiting ticket back."""
        with session_scope(self.sessions) as s:
            ticket = self._load(s, ticket_id, for_update=True)
            if ticket.status == "closed":
                raise InvalidTransition(ticket.id, ticket.status, "commented")
            now = self.clock()
            event = self._log(s, ticket, "comment", actor_id, text=text, public=public)
            if public and actor_id is not None and ticket.first_responded_at is None:
                ticket.first_responded_at = now
                self._log(s, ticket, "first_response", actor_id)
            if actor_id is None and ticket.status == "waiting_customer":
                self._transition(s, ticket, "assigned", None, note="customer replied")
            ticket.updated_at = now
            s.flush()
            return event

    def check_breaches(self, *, now: datetime | None = None) -> list[tuple[str, str]]:
        """Mark tickets whose SLA timers ran out (once per timer, with a history entry). Returns (ref, which)."""
        now = aware(now or self.clock())
        found: list[tuple[str, str]] = []
        with session_scope(self.sessions) as s:
            rows = s.scalars(
                select(Ticket).where(
                    Ticket.status.in_(OPEN_STATUSES),
                    or_(
                        ~Ticket.first_response_breached & Ticket.first_responded_at.is_(None),
                        ~Ticket.resolution_breached,
                    ),
                )
            ).all()
            for ticket in rows:
                state = sla_state(ticket, now)
                if state.first_response_breached and not ticket.first_response_breached:
                    ticket.first_response_breached = True
                    self._log(
                        s,
                        ticket,
                        "sla_breached",
                        None,
                        timer="first_response",
                        due_at=state.first_response_due_at.isoformat(),
                    )
                    found.append((str(ticket.ref), "first_response"))
                if state.resolution_breached and not ticket.resolution_breached:
                    ticket.resolution_breached = True
                    self._log(
                        s, ticket, "sla_breached", None, timer="resolution", due_at=state.resolution_due_at.isoformat()
                    )
                    found.append((str(ticket.ref), "resolution"))
        return found
