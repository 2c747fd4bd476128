"""Ticket assignment: to a named agent or through the skill router (:mod:`router.tickets.assign` chooses), and
the notice to the agent once the assignment is committed."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from router.clock import aware
from router.db import session_scope
from router.tickets.errors import InvalidTicket, InvalidTransition, NoEligibleAgent
from router.tickets.models import Ticket
from router.tickets.transitions import TicketTransitions

log = logging.getLogger(__name__)
NOTICES_KEY = "kefu_ticket_notices"


class TicketAssignment(TicketTransitions):
    """Who works on a ticket: the public :meth:`assign` / :meth:`assign_to_group` and the steps every creation and
    change uses."""

    def assign(self, ticket_id: int | str, *, actor_id: int | None, agent_id: int | None = None) -> Ticket:
        """Assign to a named agent, or let the skill router choose."""
        with session_scope(self.sessions) as s:
            ticket = self._load(s, ticket_id, for_update=True)
            if ticket.status in ("resolved", "closed"):
                raise InvalidTransition(ticket.id, ticket.status, "assigned")
            if agent_id is not None:
                self._require_agent(agent_id)
                self._assign(s, ticket, agent_id, actor=actor_id, how="manual")
            elif not self._auto_assign(s, ticket, actor=actor_id, exclude=ticket.assignee_id):
                raise NoEligibleAgent(ticket.category)
            return ticket

    def assign_to_group(self, ticket_id: int | str, *, actor_id: int | None, skill: str) -> Ticket:
        """Hand a ticket to a skill group: its category becomes ``skill`` (SLA targets follow) and the skill router
        picks an agent of that group (any agent when the group has nobody, as for new tickets)."""
        with session_scope(self.sessions) as s:
            ticket = self._load(s, ticket_id, for_update=True)
            if ticket.status in ("resolved", "closed"):
                raise InvalidTransition(ticket.id, ticket.status, "assigned")
            if skill != ticket.category:
                old = ticket.category
                ticket.category = skill
                ticket.first_response_due_at, ticket.resolution_due_at = self.sla.due(
                    skill, ticket.priority, aware(ticket.created_at)
                )
                self._log(s, ticket, "category_changed", actor_id, old=old, new=skill)
            if not self._auto_assign(s, ticket, actor=actor_id):
                raise NoEligibleAgent(skill)
            ticket.updated_at = self.clock()
            return ticket

    def _require_agent(self, agent_id: int) -> None:
        if self.assigner is None:
            return
        if not any(a.id == agent_id for a in self.assigner.directory()):
            raise InvalidTicket(f"agent {agent_id} does not exist or cannot take tickets", agent_id=agent_id)

    def _assign(
        self, s: Session, ticket: Ticket, agent_id: int, *, actor: int | None, how: str, note: str | None = None
    ) -> None:
        old = ticket.assignee_id
        ticket.assignee_id = agent_id
        self._log(s, ticket, "assigned", actor, old=old, new=agent_id, how=how, note=note)
        self._notify_after_commit(
            s,
            agent_id,
            {
                "type": "ticket_assigned",
                "ticket_id": ticket.id,
                "ref": ticket.ref,
                "subject": ticket.subject,
                "category": ticket.category,
                "priority": ticket.priority,
            },
        )
        if ticket.status == "new":
            self._transition(s, ticket, "assigned", actor)

    def _notify_after_commit(self, s: Session, agent_id: int, notice: dict[str, Any]) -> None:
        """Tell listeners only once the assignment is durable (the caller's transaction may still roll back)."""
        if not self.listeners:
            return
        pending: list[tuple[int, dict[str, Any]]] = s.info.setdefault(NOTICES_KEY, [])
        if not pending:
            event.listen(s, "after_commit", self._flush_notices, once=True)
            event.listen(s, "after_rollback", _drop_notices, once=True)
        pending.append((agent_id, notice))

    def _flush_notices(self, s: Session) -> None:
        for agent_id, notice in s.info.pop(NOTICES_KEY, []):
            if notice.get("ref") is None:
                continue
            for listener in list(self.listeners):
                try:
                    listener(agent_id, notice)
                except Exception:  # a failing push must not undo or block the ticket
                    log.exception("ticket notice to agent %s failed", agent_id)

    def _auto_assign(self, s: Session, ticket: Ticket, *, actor: int | None, exclude: int | None = None) -> bool:
        if self.assigner is None:
            return False
        agent = self.assigner.choose(s, ticket.category, exclude=exclude)
        if agent is None:
            return False
        self._assign(s, ticket, agent.id, actor=actor, how="router")
        return True


def _drop_notices(s: Session) -> None:
    s.info.pop(NOTICES_KEY, None)
