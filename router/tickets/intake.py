"""Ticket creation: left messages, conversations that ended unresolved (the sweep), agents' own tickets; topic,
category and priority by the escalation policy, SLA targets, first assignment."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from knowledge_base.escalation import Decision, Feeling, decide, known_skill
from router.clock import aware
from router.conversations.models import Conversation, ConversationEvent, Customer, Message
from router.conversations.queries import recent_scored_feelings
from router.tickets.assignment import TicketAssignment
from router.tickets.errors import InvalidTicket
from router.tickets.models import Ticket

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Context:
    """What the conversation tells about a ticket's topic and urgency."""

    vip: bool = False
    feelings: tuple[Feeling, ...] = ()  # the shopper's recent messages, oldest first
    topic: str | None = None
    skill: str | None = None
    priority: int = 0
    first_text: str | None = None

RECENT_FEELINGS = 5  # as many recent messages as the gateway reads for a handoff


class TicketIntake(TicketAssignment):
    """Creating tickets (each assigned at once when the skill router finds an agent)."""

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
        session: Session | None = None,
        at: datetime | None = None,
    ) -> str:
        """``TicketSink``: a shopper left a message (or a conversation ended unresolved). Returns the ticket ref.

        ``at`` backdates the ticket (imports and generated traffic); SLA timers start then."""
        with self._tx(session) as s:
            ticket = self._create(
                s,
                source=source,
                subject=_subject(text),
                description=text,
                category=category,
                priority=priority,
                conversation_id=conversation_id,
                customer_id=customer_id,
                channel=channel,
                created_by=None,
                assign="auto",
                at=at,
            )
            return str(ticket.ref)

    def create(
        self,
        *,
        source: str,
        subject: str,
        description: str = "",
        category: str | None = None,
        priority: int | None = None,
        conversation_id: str | None = None,
        customer_id: str | None = None,
        channel: str | None = None,
        created_by: int | None = None,
        assign: str = "auto",
        session: Session | None = None,
    ) -> Ticket:
        with self._tx(session) as s:
            return self._create(
                s,
                source=source,
                subject=subject,
                description=description,
                category=category,
                priority=priority,
                conversation_id=conversation_id,
                customer_id=customer_id,
                channel=channel,
                created_by=created_by,
                assign=assign,
            )

    def _context(self, s: Session, conversation_id: str | None, customer_id: str | None) -> Context:
        if conversation_id is None:
            customer = s.get(Customer, customer_id) if customer_id else None
            return Context(vip=bool(customer and customer.vip))
        conv = s.get(Conversation, conversation_id)
        if conv is None:
            raise InvalidTicket(f"conversation {conversation_id} does not exist", conversation_id=conversation_id)
        customer = s.get(Customer, conv.customer_id)
        rows = recent_scored_feelings(s, conversation_id=conversation_id, limit=RECENT_FEELINGS)
        feelings = tuple(Feeling.stored(label, score, anger) for label, score, anger in rows)
        faq_events = s.scalars(
            select(ConversationEvent)
            .where(ConversationEvent.conversation_id == conversation_id, ConversationEvent.type == "faq")
            .order_by(ConversationEvent.id.desc())
        ).all()
        topic = None
        for ev in faq_events:
            data = ev.data or {}
            faq_id = data.get("faq_id") or (data.get("alternatives") or [None])[0]
            if faq_id:
                topic = str(faq_id)
                break
        first_text = s.scalar(
            select(Message.text)
            .where(Message.conversation_id == conversation_id, Message.direction == "in")
            .order_by(Message.id)
            .limit(1)
        )
        return Context(
            vip=bool(customer and customer.vip),
            feelings=feelings,
            topic=topic,
            skill=conv.required_skill,
            priority=conv.priority,
            first_text=first_text,
        )

    def decide(self, text: str, ctx: Context, source: str, category: str | None, floor: int | None) -> Decision:
        """Topic, category and priority by the escalation policy: a valid explicit category (else the conversation's
        skill) wins unless it is general; the FAQ topic seen in the chat, then the knowledge base, then the text fill
        in the rest. The priority is never below ``floor`` (the conversation's queue priority when not given)."""
        topic, kb_category = ctx.topic, None
        if topic is None and self.topic_lookup is not None:
            found = self.topic_lookup(text)
            if found is not None:
                topic, kb_category = found
        return decide(
            reason=source,
            skill=explicit if (explicit := known_skill(category)) not in (None, "general") else ctx.skill,
            faq_category=kb_category,
            text=text,
            topic=topic,
            feelings=ctx.feelings,
            vip=ctx.vip,
            floor=ctx.priority if floor is None else floor,
        )

    def _create(
        self,
        s: Session,
        *,
        source: str,
        subject: str,
        description: str,
        category: str | None,
        priority: int | None,
        conversation_id: str | None,
        customer_id: str | None,
        channel: str | None,
        created_by: int | None,
        assign: str,
        at: datetime | None = None,
    ) -> Ticket:
        if not subject.strip():
            raise InvalidTicket("a ticket needs a subject")
        ctx = self._context(s, conversation_id, customer_id)
        if conversation_id is not None and customer_id is None:
            conv = s.get(Conversation, conversation_id)
            customer_id, channel = (conv.customer_id, channel or conv.channel) if conv else (None, channel)
        text = " ".join(t for t in (subject, description, ctx.first_text) if t)
        decision = self.decide(text, ctx, source, category, priority)
        topic, cat = decision.topic, decision.skill
        # an agent's explicit priority stands; otherwise the gateway passes the conversation's queue priority, a floor
        prio = priority if source == "agent" and priority is not None else decision.priority
        now = aware(at) if at is not None else self.clock()
        first_due, resolve_due = self.sla.due(cat, prio, now)
        ticket = Ticket(
            source=source,
            conversation_id=conversation_id,
            customer_id=customer_id,
            channel=channel,
            subject=subject.strip()[:200],
            description=description,
            category=cat,
            topic=topic,
            priority=prio,
            status="new",
            vip=ctx.vip,
            created_by=created_by,
            created_at=now,
            updated_at=now,
            first_response_due_at=first_due,
            resolution_due_at=resolve_due,
        )
        s.add(ticket)
        s.flush()
        ticket.ref = f"T{aware(now):%Y%m%d}{ticket.id:05d}"
        self._log(s, ticket, "created", created_by, source=source, category=cat, topic=topic, priority=prio)
        if assign == "me" and created_by is not None:
            self._assign(s, ticket, created_by, actor=created_by, how="self")
        elif assign == "auto":
            self._auto_assign(s, ticket, actor=created_by)
        s.flush()
        return ticket

    def sweep_unresolved(self, *, since: datetime | None = None, session: Session | None = None) -> list[str]:
        """Open tickets for conversations that ended without an answer: the shopper left the queue, or asked for a
        human when nobody was online and never left a message. Idempotent (one ticket per conversation)."""
        with self._tx(session) as s:
            wanted_human = exists().where(
                ConversationEvent.conversation_id == Conversation.id, ConversationEvent.type == "handoff_requested"
            )
            has_ticket = exists().where(Ticket.conversation_id == Conversation.id)
            query = select(Conversation).where(
                Conversation.status == "closed",
                or_(Conversation.resolution == "abandoned", (Conversation.resolution == "bot") & wanted_human),
                ~has_ticket,
            )
            if since is not None:
                query = query.where(Conversation.closed_at >= since)
            refs: list[str] = []
            for conv in s.scalars(query.order_by(Conversation.closed_at)).all():
                texts = s.scalars(
                    select(Message.text)
                    .where(Message.conversation_id == conv.id, Message.direction == "in")
                    .order_by(Message.id)
                ).all()
                body = "\n".join(texts) or "（顾客未留下文字）"
                try:
                    with s.begin_nested():  # another sweep (another replica) made it first: keep theirs
                        ticket = self._create(
                            s,
                            source="unresolved",
                            subject=_subject(texts[0] if texts else "未解决的会话"),
                            description=body,
                            category=conv.required_skill,
                            priority=None,
                            conversation_id=conv.id,
                            customer_id=conv.customer_id,
                            channel=conv.channel,
                            created_by=None,
                            assign="auto",
                        )
                        s.add(
                            ConversationEvent(
                                conversation_id=conv.id,
                                type="ticket_created",
                                channel=conv.channel,
                                data={"ticket_id": ticket.ref, "source": "unresolved"},
                            )
                        )
                except IntegrityError:
                    log.info("unresolved conversation %s already has its ticket", conv.id)
                    continue
                refs.append(str(ticket.ref))
            return refs


def _subject(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 60 else line[:59] + "…"
