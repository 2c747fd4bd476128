"""Export and erase one customer's personal data on request (PIPL access and deletion rights).

Export: the customer, their channel identities, conversations, messages, survey answers and tickets, as JSON.
Erase: message texts, survey comments and ticket texts are deleted, every row that names the customer is moved to a
random pseudonym, and their identities and visitor tokens are dropped (a replayed token gets 401). The rows stay, so
the KPIs (conversation counts, resolution, CSAT ratings, ticket SLAs) are the same before and after.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from router.conversations.models import Conversation, ConversationEvent, Customer, CustomerIdentity, Message, Survey
from router.db import session_scope
from router.errors import KefuError
from router.identity.models import PersonalDataAccess, VisitorToken
from router.identity.service import ERASED_PREFIX
from router.tickets.models import Ticket, TicketEvent

ERASED_TEXT = "[已删除]"
# conversation event fields that may hold what the shopper said
_TICKET_TEXT_KEYS = ("text", "body", "comment", "note")
_EVENT_TEXT_KEYS = ("text", "question", "query", "comment", "order_id", "address", "phone")


class CustomerNotFound(KefuError):
    status = 404
    message_zh = "没有找到该顾客的数据。"

    def __init__(self, customer_id: str) -> None:
        super().__init__(f"customer {customer_id} not found", customer_id=customer_id)
        self.customer_id = customer_id


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _exists(session: Session, customer_id: str) -> bool:
    return session.get(Customer, customer_id) is not None or (
        session.scalar(select(Conversation.id).where(Conversation.customer_id == customer_id).limit(1)) is not None
    )


def export_customer(sessions: sessionmaker[Session], customer_id: str, *, user_id: int | None = None) -> dict[str, Any]:
    """Everything stored about ``customer_id`` (audited)."""
    with session_scope(sessions) as session:
        if not _exists(session, customer_id):
            raise CustomerNotFound(customer_id)
        customer = session.get(Customer, customer_id)
        conversations = session.scalars(
            select(Conversation).where(Conversation.customer_id == customer_id).order_by(Conversation.created_at)
        ).all()
        messages = session.scalars(
            select(Message).where(Message.customer_id == customer_id).order_by(Message.id)
        ).all()
        surveys = session.scalars(select(Survey).where(Survey.customer_id == customer_id)).all()
        tickets = session.scalars(select(Ticket).where(Ticket.customer_id == customer_id).order_by(Ticket.id)).all()
        identities = session.scalars(select(CustomerIdentity).where(CustomerIdentity.customer_id == customer_id)).all()
        session.add(PersonalDataAccess(action="export", user_id=user_id, customer_ref=customer_id))
        return {
            "customer": {
                "id": customer_id,
                "display_name": customer.display_name if customer else None,
                "vip": bool(customer and customer.vip),
                "created_at": _iso(customer.created_at) if customer else None,
            },
            "identities": [{"channel": i.channel, "external_id": i.external_id} for i in identities],
            "conversations": [
                {"id": c.id, "channel": c.channel, "status": c.status, "resolution": c.resolution,
                 "created_at": _iso(c.created_at), "closed_at": _iso(c.closed_at)}
                for c in conversations
            ],
            "messages": [
                {"id": m.id, "conversation_id": m.conversation_id, "direction": m.direction, "sender": m.sender,
                 "channel": m.channel, "text": m.text, "created_at": _iso(m.created_at)}
                for m in messages
            ],
            "surveys": [
                {"conversation_id": s.conversation_id, "rating": s.rating, "comment": s.comment,
                 "created_at": _iso(s.created_at)}
                for s in surveys
            ],
            "tickets": [
                {"ref": t.ref, "conversation_id": t.conversation_id, "subject": t.subject, "description": t.description,
                 "status": t.status, "created_at": _iso(t.created_at)}
                for t in tickets
            ],
        }


def erase_customer(sessions: sessionmaker[Session], customer_id: str, *, user_id: int | None = None) -> dict[str, int]:
    """Erase ``customer_id``'s personal data in one transaction; returns how many rows of each kind were touched."""
    pseudonym = ERASED_PREFIX + secrets.token_hex(8)
    with session_scope(sessions) as session:
        if not _exists(session, customer_id):
            raise CustomerNotFound(customer_id)
        session.add(Customer(id=pseudonym))
        session.flush()
        conv_ids = list(session.scalars(select(Conversation.id).where(Conversation.customer_id == customer_id)))
        counts = {
            "conversations": len(conv_ids),
            "messages": session.query(Message).filter(Message.customer_id == customer_id).count(),
            "surveys": session.query(Survey).filter(Survey.customer_id == customer_id).count(),
        }
        session.execute(
            update(Message).where(Message.customer_id == customer_id)
            .values(customer_id=pseudonym, text=ERASED_TEXT, buttons=None)
        )
        session.execute(
            update(Survey).where(Survey.customer_id == customer_id).values(customer_id=pseudonym, comment=None)
        )
        session.execute(
            update(Conversation).where(Conversation.customer_id == customer_id).values(customer_id=pseudonym)
        )
        for event in session.scalars(select(ConversationEvent).where(ConversationEvent.conversation_id.in_(conv_ids))):
            if any(k in (event.data or {}) for k in _EVENT_TEXT_KEYS):
                event.data = {k: v for k, v in event.data.items() if k not in _EVENT_TEXT_KEYS}
        ticket_ids = list(session.scalars(select(Ticket.id).where(Ticket.customer_id == customer_id)))
        counts["tickets"] = len(ticket_ids)
        session.execute(
            update(Ticket).where(Ticket.id.in_(ticket_ids))
            .values(customer_id=pseudonym, subject=ERASED_TEXT, description=ERASED_TEXT)
        )
        for tev in session.scalars(select(TicketEvent).where(TicketEvent.ticket_id.in_(ticket_ids))):
            if tev.data and any(k in tev.data for k in _TICKET_TEXT_KEYS):
                tev.data = {k: ERASED_TEXT if k in _TICKET_TEXT_KEYS else v for k, v in tev.data.items()}
        session.query(CustomerIdentity).filter(CustomerIdentity.customer_id == customer_id).delete()
        counts["tokens"] = session.query(VisitorToken).filter(VisitorToken.customer_id == customer_id).delete()
        customer = session.get(Customer, customer_id)
        if customer is not None:
            session.delete(customer)
        session.add(PersonalDataAccess(action="erase", user_id=user_id, customer_ref=pseudonym))
        return counts
