"""Which tickets a staff member may see: the ones assigned to them or opened by them, those of their skill groups;
supervisors see all. A ticket outside that is "not found" for them (its existence is not confirmed)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, or_, true

from router.staff_scope import StaffScope
from router.tickets.models import Ticket


def may_see(scope: StaffScope, ticket: Ticket) -> bool:
    return (
        scope.supervising
        or scope.id in (ticket.assignee_id, ticket.created_by)
        or ticket.category in scope.skills
    )


def visible_clause(scope: StaffScope) -> ColumnElement[bool]:
    """The SQL condition of :func:`may_see`."""
    if scope.supervising:
        return true()
    return or_(
        Ticket.assignee_id == scope.id,
        Ticket.created_by == scope.id,
        Ticket.category.in_(sorted(scope.skills)) if scope.skills else false(),
    )
