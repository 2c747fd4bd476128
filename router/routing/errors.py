"""Domain exceptions of the routing engine; the API layer maps them to HTTP statuses."""

from __future__ import annotations


class RoutingError(Exception):
    """Base class; ``status`` is the HTTP status the edge should answer with."""

    status = 400

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(message)
        self.message = message
        self.context = context


class NoAgentOnline(RoutingError):
    """Nobody who could ever take this conversation is online: offer the shopper to leave a message."""

    status = 409

    def __init__(self, skill: str | None = None) -> None:
        super().__init__(f"no agent online for skill {skill or 'any'}", skill=skill)
        self.skill = skill


class UnknownAgent(RoutingError):
    status = 404

    def __init__(self, agent_id: int) -> None:
        super().__init__(f"unknown agent {agent_id}", agent_id=agent_id)


class UnknownConversation(RoutingError):
    status = 404

    def __init__(self, conversation_id: str) -> None:
        super().__init__(f"conversation {conversation_id} is not with the router", conversation_id=conversation_id)


class UnknownOffer(RoutingError):
    status = 404

    def __init__(self, offer_id: str) -> None:
        super().__init__(f"unknown offer {offer_id}", offer_id=offer_id)


class OfferNotPending(RoutingError):
    """The offer was already accepted, rejected, timed out or rescinded (e.g. lost a race)."""

    status = 409

    def __init__(self, offer_id: str, state: str) -> None:
        super().__init__(f"offer {offer_id} is {state}, not pending", offer_id=offer_id, state=state)


class NotYourOffer(RoutingError):
    status = 403

    def __init__(self, offer_id: str, agent_id: int) -> None:
        super().__init__(f"offer {offer_id} was not made to agent {agent_id}", offer_id=offer_id, agent_id=agent_id)


class NotAssigned(RoutingError):
    status = 409

    def __init__(self, conversation_id: str, agent_id: int) -> None:
        super().__init__(
            f"conversation {conversation_id} is not assigned to agent {agent_id}",
            conversation_id=conversation_id,
            agent_id=agent_id,
        )


class AlreadyQueued(RoutingError):
    status = 409

    def __init__(self, conversation_id: str, state: str) -> None:
        super().__init__(f"conversation {conversation_id} is already {state}", conversation_id=conversation_id)


class InvalidTransfer(RoutingError):
    status = 422
