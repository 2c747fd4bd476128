"""Domain exceptions of the routing engine; the API layer maps them to HTTP statuses."""

from __future__ import annotations

from router.errors import KefuError


class RoutingError(KefuError):
    """Base class of the routing engine's errors."""


class NoAgentOnline(RoutingError):
    """Nobody who could ever take this conversation is online: offer the shopper to leave a message.

    ``off_hours``: the skill group's working hours when it is closed now (said to the shopper)."""

    status = 409
    message_zh = "当前没有在线的客服，您可以先留言，我们会尽快联系您。"

    def __init__(self, skill: str | None = None, *, off_hours: str | None = None) -> None:
        super().__init__(f"no agent online for skill {skill or 'any'}", skill=skill, off_hours=off_hours)
        self.skill = skill
        self.off_hours = off_hours


class UnknownAgent(RoutingError):
    status = 404
    message_zh = "找不到该客服账号。"

    def __init__(self, agent_id: int) -> None:
        super().__init__(f"unknown agent {agent_id}", agent_id=agent_id)


class UnknownConversation(RoutingError):
    status = 404
    message_zh = "该会话已结束或不在排队中。"

    def __init__(self, conversation_id: str) -> None:
        super().__init__(f"conversation {conversation_id} is not with the router", conversation_id=conversation_id)


class UnknownOffer(RoutingError):
    status = 404
    message_zh = "找不到该会话邀请。"

    def __init__(self, offer_id: str) -> None:
        super().__init__(f"unknown offer {offer_id}", offer_id=offer_id)


class OfferNotPending(RoutingError):
    """The offer was already accepted, rejected, timed out or rescinded (e.g. lost a race)."""

    status = 409
    message_zh = "该会话邀请已失效（已被接入、拒绝或超时）。"

    def __init__(self, offer_id: str, state: str) -> None:
        super().__init__(f"offer {offer_id} is {state}, not pending", offer_id=offer_id, state=state)


class NotYourOffer(RoutingError):
    status = 403
    message_zh = "该会话邀请不是发给您的。"

    def __init__(self, offer_id: str, agent_id: int) -> None:
        super().__init__(f"offer {offer_id} was not made to agent {agent_id}", offer_id=offer_id, agent_id=agent_id)


class NotAssigned(RoutingError):
    status = 409
    message_zh = "您当前没有接待该会话。"

    def __init__(self, conversation_id: str, agent_id: int) -> None:
        super().__init__(
            f"conversation {conversation_id} is not assigned to agent {agent_id}",
            conversation_id=conversation_id,
            agent_id=agent_id,
        )


class AlreadyQueued(RoutingError):
    status = 409
    message_zh = "该会话已经在排队或接待中。"

    def __init__(self, conversation_id: str, state: str) -> None:
        super().__init__(f"conversation {conversation_id} is already {state}", conversation_id=conversation_id)


class InvalidTransfer(RoutingError):
    status = 422
    message_zh = "无法转接：请检查目标客服是否在线且有空闲，或目标技能组是否存在。"
