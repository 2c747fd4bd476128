"""Reading tickets: one with its history, filtered lists (an agent's queue, a team's, the at-risk view), the
conversation behind a ticket."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from router.clock import aware
from router.conversations.models import Conversation, Message
from router.db import session_scope
from router.tickets.core import TicketCore
from router.tickets.models import Ticket, TicketEvent
from router.tickets.sla import AT_RISK_S


class TicketQueries(TicketCore):
    """Read-only views of tickets and their conversations."""

    def get(self, ticket_id: int | str, *, session: Session | None = None) -> tuple[Ticket, list[TicketEvent]]:
        with self._tx(session) as s:
            ticket = self._load(s, ticket_id)
            history = s.scalars(
                select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
            ).all()
            return ticket, list(history)

    def list_tickets(
        self,
        *,
        status: list[str] | None = None,
        category: str | None = None,
        assignee_id: int | None = None,
        unassigned: bool = False,
        breached: bool | None = None,
        customer_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
        visible: ColumnElement[bool] | None = None,
        categories: list[str] | None = None,
        at_risk: bool = False,
    ) -> tuple[list[Ticket], int]:
        """Tickets, most urgent first (priority, then the nearest resolution due time).

        ``visible`` limits the rows to what the caller may see (``router.tickets.access``); ``categories`` to some
        skill groups (a team's queue); ``at_risk`` to open tickets whose SLA is breached or due within
        :data:`~router.tickets.sla.AT_RISK_S` (tickets waiting on the customer are paused, so never at risk)."""
        with session_scope(self.sessions) as s:
            query = select(Ticket)
            if visible is not None:
                query = query.where(visible)
            if categories is not None:
                query = query.where(Ticket.category.in_(categories))
            if at_risk:
                soon = self.clock() + timedelta(seconds=AT_RISK_S)
                query = query.where(
                    Ticket.status.in_(("new", "assigned")),
                    or_(
                        Ticket.first_response_breached,
                        Ticket.resolution_breached,
                        Ticket.first_responded_at.is_(None) & (Ticket.first_response_due_at <= soon),
                        Ticket.resolution_due_at <= soon,
                    ),
                )
            if status:
                query = query.where(Ticket.status.in_(status))
            if category:
                query = query.where(Ticket.category == category)
            if assignee_id is not None:
                query = query.where(Ticket.assignee_id == assignee_id)
            if unassigned:
                query = query.where(Ticket.assignee_id.is_(None))
            if customer_id:
                query = query.where(Ticket.customer_id == customer_id)
            if breached is not None:
                cond = Ticket.first_response_breached | Ticket.resolution_breached
                query = query.where(cond if breached else ~cond)
            total = s.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = s.scalars(
                query.order_by(Ticket.priority.desc(), Ticket.resolution_due_at, Ticket.id).limit(limit).offset(offset)
            ).all()
            return list(rows), int(total)

    def conversation_owner(self, conversation_id: str) -> tuple[bool, int | None]:
        """(whether the conversation exists, the agent holding or last holding it)."""
        with session_scope(self.sessions) as s:
            conv = s.get(Conversation, conversation_id)
            return (conv is not None, conv.agent_id if conv is not None else None)

    def transcript(self, conversation_id: str, *, limit: int = 500) -> list[dict[str, Any]]:
        """The messages of a ticket's conversation, oldest first (unmasked: the API masks them for agents)."""
        with session_scope(self.sessions) as s:
            rows = s.scalars(
                select(Message)
                .where(Message.conversation_id == conversation_id)
                .order_by(Message.id.desc())
                .limit(limit)
            ).all()
            return [
                {
                    "id": m.id,
                    "sender": "customer" if m.direction == "in" else m.sender,
                    "text": m.text,
                    "agent_id": m.agent_id,
                    "created_at": aware(m.created_at),
                }
                for m in reversed(rows)
            ]
