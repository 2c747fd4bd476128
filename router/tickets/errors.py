"""Domain exceptions of tickets; the API layer maps ``status`` to the HTTP answer."""

from __future__ import annotations


class TicketError(Exception):
    status = 400

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(message)
        self.message = message
        self.context = context


class TicketNotFound(TicketError):
    status = 404

    def __init__(self, ticket_id: int | str) -> None:
        super().__init__(f"ticket {ticket_id} not found", ticket_id=ticket_id)


class InvalidTransition(TicketError):
    status = 409

    def __init__(self, ticket_id: int, current: str, target: str) -> None:
        super().__init__(f"ticket {ticket_id} cannot go from {current} to {target}", current=current, target=target)


class InvalidTicket(TicketError):
    status = 422


class NoEligibleAgent(TicketError):
    status = 409

    def __init__(self, category: str) -> None:
        super().__init__(f"no active agent can take {category} tickets", category=category)


class NotAllowed(TicketError):
    status = 403
