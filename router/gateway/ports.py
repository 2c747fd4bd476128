"""What the gateway needs from its neighbours, as small interfaces (the routing engine, tickets, push fan-out)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class QueuePlace:
    """The gateway's view of a queued conversation (routing's ``QueueStatus`` has more than the shopper is told)."""

    position: int  # 1 = next to be offered
    eta_s: float | None


class HandoffQueue(Protocol):
    """The skill-based router as seen by the gateway."""

    def enqueue(
        self,
        *,
        conversation_id: str,
        customer_id: str,
        channel: str,
        skill: str,
        priority: int,
        reason: str,
        card: dict[str, Any] | None = None,
    ) -> None: ...

    def queue_status(self, conversation_id: str) -> QueuePlace | None: ...

    def agents_online(self, skill: str | None = None) -> int: ...

    def abandon(self, conversation_id: str) -> None: ...


class TicketSink(Protocol):
    """Where a message left for offline agents goes."""

    def create_from_conversation(
        self,
        *,
        conversation_id: str,
        customer_id: str,
        channel: str,
        text: str,
        category: str,
        priority: int,
        source: str,
        session: Any = None,
    ) -> str: ...


class Push(Protocol):
    """Fan-out of events to connected shoppers and agents (in-process or Redis pub/sub across replicas)."""

    async def to_customer(self, customer_id: str, event: dict[str, Any]) -> None: ...

    async def to_agent(self, agent_id: int, event: dict[str, Any]) -> None: ...


class OutboundSink(Protocol):
    """Outbound delivery to shoppers without a WebSocket (app callback, WeChat): called inside the transaction that
    stores the message, so the delivery is written exactly when the message is (router/outbound)."""

    def notify(
        self,
        session: Any,
        conv: Any,
        event: str,
        replies: list[Any] | None = None,
        data: dict[str, Any] | None = None,
    ) -> Any: ...
