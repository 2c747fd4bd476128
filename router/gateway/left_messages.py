"""After "no agent online, leave a message": the shopper's next message becomes the note of a ticket, unless the
offer is stale (the shopper came back later: the bot answers again), the shopper changed their mind ("不留言了",
"算了") or only greets ("你好", "在吗": asked to describe the problem, the offer stays)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from sqlalchemy.orm import Session

from router.clock import aware, utcnow
from router.gateway import repository
from router.gateway.messages import ShopperMessages, record_event, system_replies
from router.gateway.outcome import Outcome
from router.gateway.ports import TicketSink
from router.gateway.schemas import InboundMessage
from router.gateway.texts import Texts

# a greeting is not the message, and these withdraw the offer (the whole text, punctuation aside)
_GREETING_ONLY = re.compile(r"(你好|您好|hi|hello|哈喽|嗨|在吗|在不在|有人吗|有人在吗|喂|人呢|客服|亲)+")
_DECLINE_LEAVE = re.compile(
    r"(不留言了?|不用留言了?|不留了|算了吧?|不用了|不需要了?|取消留言|取消|没事了?|好的?不用了)"
)
NO_AGENT_EVENT = "no_agent_online"

Answer = Literal["leave_message_cancelled", "leave_message_greeting"]


def leave_message_reply(text: str) -> Answer | None:
    """The text key of the answer to ``text`` after the offer, or None when ``text`` is the message to leave."""
    core = re.sub(r"[\s，,。.！!？?~～、…]+", "", text).lower()
    if _DECLINE_LEAVE.fullmatch(core):
        return "leave_message_cancelled"
    if not core or _GREETING_ONLY.fullmatch(core):
        return "leave_message_greeting"
    return None


def offer_expired(offered_at: datetime | None, *, now: datetime, window_s: float) -> bool:
    """An offer older than ``window_s`` is stale (an offer without its event never expires)."""
    return offered_at is not None and (now - aware(offered_at)).total_seconds() > window_s


class LeftMessages:
    def __init__(
        self, *, shopper_messages: ShopperMessages, texts: Texts, tickets: TicketSink, window_s: float
    ) -> None:
        self.shopper_messages = shopper_messages
        self.texts = texts
        self.tickets = tickets
        self.window_s = window_s

    def take(self, session: Session, inbound: InboundMessage, customer_id: str) -> Outcome | None:
        """Answer the message after the offer, in the transaction that stores it; None when no offer is open (or
        it went stale): the message goes on to the bot."""
        conv = repository.leave_message_conversation(session, customer_id=customer_id)
        if conv is None:
            return None
        offered = repository.last_event_at(session, conversation_id=conv.id, type_=NO_AGENT_EVENT)
        if offer_expired(offered, now=utcnow(), window_s=self.window_s):
            conv.handoff_reason = None  # a stale offer: this message is a new question for the bot
            record_event(session, conv, "leave_message_expired")
            return None
        msg = self.shopper_messages.store(session, conv.id, customer_id, inbound)
        reply = leave_message_reply(inbound.text)
        if reply is not None:
            if reply == "leave_message_cancelled":
                conv.handoff_reason = None
                record_event(session, conv, "leave_message_declined")
            return Outcome(conv.id, "bot", system_replies(session, conv, self.texts(reply)), None, msg.id)
        ticket_id = self.tickets.create_from_conversation(
            conversation_id=conv.id,
            customer_id=customer_id,
            channel=inbound.channel,
            text=inbound.text,
            category=conv.required_skill or "general",  # the ticket service derives a general one again
            priority=conv.priority,
            source="leave_message",
            session=session,
        )
        conv.handoff_reason = None
        conv.status = "closed"
        conv.resolution = "ticket"
        conv.closed_at = utcnow()
        record_event(session, conv, "ticket_created", ticket_id=ticket_id, source="leave_message")
        replies = system_replies(session, conv, self.texts("left_message", ticket_id=ticket_id))
        return Outcome(conv.id, "bot", replies, None, msg.id)
