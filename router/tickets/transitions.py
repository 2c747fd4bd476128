"""Ticket status changes: which are allowed, and what each does to the SLA timers and the history."""

from __future__ import annotations

from sqlalchemy.orm import Session

from router.clock import aware
from router.tickets.core import TicketCore
from router.tickets.errors import InvalidTicket, InvalidTransition
from router.tickets.models import Ticket

# Allowed status changes. "assigned" means an agent works on it; a customer reply moves waiting_customer back.
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"assigned", "resolved", "closed"}),
    "assigned": frozenset({"new", "waiting_customer", "resolved", "closed"}),
    "waiting_customer": frozenset({"assigned", "resolved", "closed"}),
    "resolved": frozenset({"assigned", "closed"}),  # reopen or close
    "closed": frozenset(),
}


class TicketTransitions(TicketCore):
    """Moving a ticket from one status to another (every caller goes through :meth:`_transition`)."""

    def _transition(self, s: Session, ticket: Ticket, target: str, actor: int | None, note: str | None = None) -> None:
        if target not in TRANSITIONS.get(ticket.status, frozenset()):
            raise InvalidTransition(ticket.id, ticket.status, target)
        if target == "assigned" and ticket.assignee_id is None:
            raise InvalidTicket("assign the ticket to an agent first", ticket_id=ticket.id)
        now = self.clock()
        if ticket.waiting_since is not None and target != "waiting_customer":
            # waiting on the customer does not count against the resolution target
            ticket.resolution_due_at = aware(ticket.resolution_due_at) + (now - aware(ticket.waiting_since))
            ticket.waiting_since = None
        if target == "waiting_customer":
            ticket.waiting_since = now
        if target == "resolved":
            ticket.resolved_at = now
        if target == "closed":
            ticket.closed_at = now
            ticket.resolved_at = ticket.resolved_at or now
        if ticket.status == "resolved" and target == "assigned":
            ticket.resolved_at = None
        if target == "new":
            ticket.assignee_id = None
        old = ticket.status
        ticket.status = target
        ticket.updated_at = now
        self._log(s, ticket, "status_changed", actor, old=old, new=target, note=note)
