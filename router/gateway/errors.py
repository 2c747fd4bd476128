"""The gateway's domain errors. Each is a :class:`~router.errors.KefuError`: the app's one handler answers with its
``status`` and ``{"detail", "code", "message", "context"}``; no gateway handler maps them itself."""

from __future__ import annotations

from router.conversations.access import AssignedToAnotherAgent, ConversationNotFound
from router.errors import KefuError
from router.routing.errors import NoAgentOnline

# defined once for every domain (router.conversations.access, router.routing.errors); the gateway's modules import
# them from here
__all__ = [
    "AssignedToAnotherAgent",
    "ConversationNotFound",
    "GatewayError",
    "NewVisitorsLimited",
    "NoAgentOnline",
    "NotConversationOwner",
    "RateLimited",
]


class GatewayError(KefuError):
    """Base of the gateway's errors."""


class NotConversationOwner(GatewayError):
    """An agent wrote into a conversation she does not own (closed, queued again, or another agent's)."""

    status = 409
    message_zh = "该会话当前不由您接待，消息未发送。"

    def __init__(self, *, conversation_id: str, agent_id: int) -> None:
        super().__init__("this conversation is not assigned to you", conversation_id=conversation_id, agent_id=agent_id)
        self.conversation_id = conversation_id
        self.agent_id = agent_id


class RateLimited(GatewayError):
    """A customer sends faster than the rate limit allows (HTTP 429 with ``Retry-After``)."""

    status = 429
    message_zh = "发送太频繁了，请稍后再试"

    def __init__(self, *, customer_id: str, retry_after_s: float) -> None:
        retry = max(1, round(retry_after_s))
        super().__init__(self._reason(retry), retry_after_s=retry)
        self.customer_id = customer_id
        self.retry_after_s = retry_after_s

    @staticmethod
    def _reason(retry: int) -> str:
        return f"too many messages; retry in {retry} s"

    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(max(1, round(self.retry_after_s)))}


class NewVisitorsLimited(RateLimited):
    """Too many new anonymous visitors from one client address (HTTP 429)."""

    message_zh = "当前咨询人数较多，请稍后再试"

    @staticmethod
    def _reason(retry: int) -> str:
        return f"too many new visitors from this address; retry in {retry} s (a returning visitor sends its token)"
