"""What agents send to shoppers through the gateway: chat replies (by the conversation's owner only) and public
ticket replies, which go into the conversation's history and to the shopper's open windows."""

from __future__ import annotations

from sqlalchemy.orm import Session

from router.clock import utcnow
from router.conversations.models import Conversation
from router.gateway.delivery import Delivery
from router.gateway.errors import ConversationNotFound, NotConversationOwner
from router.gateway.messages import add_out, record_event, reply_of, store_out
from router.gateway.schemas import Reply
from router.gateway.texts import Texts
from router.gateway.transactions import Transactions


def check_owner(conv: Conversation | None, *, conversation_id: str, agent_id: int) -> Conversation:
    """The conversation, if ``agent_id`` serves it now (open, agent-owned, hers); else a domain error."""
    if conv is None:
        raise ConversationNotFound(conversation_id=conversation_id)
    if conv.status != "open" or conv.owner != "agent" or conv.agent_id != agent_id:
        raise NotConversationOwner(conversation_id=conversation_id, agent_id=agent_id)
    return conv


class AgentReplies:
    def __init__(self, *, tx: Transactions, texts: Texts, delivery: Delivery) -> None:
        self.tx = tx
        self.texts = texts
        self.delivery = delivery

    async def chat(self, *, conversation_id: str, agent_id: int, text: str) -> Reply:
        """An agent's reply, checked against the owner in the transaction that stores it; pushed to the shopper."""

        def apply(session: Session) -> tuple[str, Reply]:
            conv = check_owner(
                session.get(Conversation, conversation_id), conversation_id=conversation_id, agent_id=agent_id
            )
            if conv.first_agent_reply_at is None:
                conv.first_agent_reply_at = utcnow()
                record_event(session, conv, "agent_first_reply", agent_id=agent_id)
            stored = store_out(session, conv, [Reply(text=text, sender="agent")], "agent")
            self.delivery.notify(session, conv, "agent_message", stored)
            return conv.customer_id, stored[0]

        customer_id, reply = await self.tx.run(apply)
        await self.delivery.replies(customer_id, conversation_id, "agent", [reply])
        return reply

    async def ticket(self, *, conversation_id: str, ticket_ref: str, agent_id: int, text: str) -> Reply | None:
        """A public reply to a ticket opened from ``conversation_id``; its owner does not change (it is usually
        closed). None when the conversation no longer exists."""

        def apply(session: Session) -> tuple[str, Reply] | None:
            conv = session.get(Conversation, conversation_id)
            if conv is None:
                return None
            reply = Reply(text=self.texts("ticket_reply", ticket_ref=ticket_ref, text=text), sender="agent")
            msg = add_out(session, conv, reply, "agent", agent_id)
            record_event(session, conv, "ticket_reply", ticket_ref=ticket_ref, agent_id=agent_id, message_id=msg.id)
            self.delivery.notify(session, conv, "ticket_reply", [reply_of(msg)], ticket=ticket_ref)
            return conv.customer_id, reply_of(msg)

        stored = await self.tx.run(apply)
        if stored is None:
            return None
        customer_id, reply = stored
        await self.delivery.to_customer(
            customer_id,
            {
                "type": "ticket_reply",
                "conversation_id": conversation_id,
                "ticket": ticket_ref,
                "reply": reply.model_dump(),
            },
        )
        return reply
