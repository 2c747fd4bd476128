"""Where the gateway's messages go besides the synchronous answer: pushed to the shopper's open windows and to the
agent, and written to the outbox for app / mini-program shoppers (router/outbound)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from router.conversations.models import Conversation
from router.gateway.ports import OutboundSink, Push
from router.gateway.schemas import Reply


class Delivery:
    def __init__(self, push: Push, outbound: OutboundSink | None) -> None:
        self.push = push
        self.outbound = outbound

    def notify(
        self, session: Session, conv: Conversation, event: str, replies: list[Reply] | None = None, **data: Any
    ) -> None:
        """Messages that are not the synchronous reply also go to app / mini-program shoppers; called inside the
        transaction that stores them."""
        if self.outbound is not None:
            self.outbound.notify(session, conv, event, replies, data or None)

    async def replies(self, customer_id: str, conversation_id: str, owner: str, replies: list[Reply]) -> None:
        for reply in replies:
            await self.push.to_customer(
                customer_id,
                {"type": "reply", "conversation_id": conversation_id, "owner": owner, "reply": reply.model_dump()},
            )

    async def to_customer(self, customer_id: str, event: dict[str, Any]) -> None:
        await self.push.to_customer(customer_id, event)

    async def to_agent(self, agent_id: int, event: dict[str, Any]) -> None:
        await self.push.to_agent(agent_id, event)
