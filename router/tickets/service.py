"""Tickets: creation (left messages, unresolved conversations, agents), classification, priority, SLA, assignment
through the skill router, status changes and the history of every change.

``TicketService`` implements the gateway's ``TicketSink``. Every method takes an optional ``session``: the gateway
creates a ticket while its own transaction is open, and on SQLite a second writer would wait on that transaction's
lock, so it passes its session and the ticket commits (or rolls back) with the message that caused it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, event, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from knowledge_base.escalation import Decision, Feeling, decide, known_skill
from router.clock import aware, utcnow
from router.conversations.models import Conversation, ConversationEvent, Customer, Message
from router.db import session_scope
from router.routing.protocol import RoutingEngineProtocol
from router.tickets.assign import OPEN_STATUSES, SkillAssigner, engine_directory
from router.tickets.errors import InvalidTicket, InvalidTransition, NoEligibleAgent, TicketNotFound
from router.tickets.models import Ticket, TicketEvent
from router.tickets.sla import AT_RISK_S, SlaPolicy, sla_state

log = logging.getLogger(__name__)

# Allowed status changes. "assigned" means an agent works on it; a customer reply moves waiting_customer back.
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"assigned", "resolved", "closed"}),
    "assigned": frozenset({"new", "waiting_customer", "resolved", "closed"}),
    "waiting_customer": frozenset({"assigned", "resolved", "closed"}),
    "resolved": frozenset({"assigned", "closed"}),  # reopen or close
    "closed": frozenset(),
}
TopicLookup = Callable[[str], tuple[str, str] | None]  # text -> (faq id, category) from the knowledge base
# (agent id, event) after the transaction that assigned a ticket commits, e.g. pushed to the agent console
Notify = Callable[[int, dict[str, Any]], None]
NOTICES_KEY = "kefu_ticket_notices"


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


class TicketService:
    """Tickets over SQL. Keyword-only configuration; ``clock`` is injectable for SLA tests."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        engine: RoutingEngineProtocol | None = None,
        sla: SlaPolicy | None = None,
        assigner: SkillAssigner | None = None,
        topic_lookup: TopicLookup | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """``engine`` (the live ``RoutingEngine``) is shorthand for assignment through its view of the agents."""
        self.sessions = session_factory
        self.sla = sla or SlaPolicy()
        if assigner is None and engine is not None:
            assigner = SkillAssigner(engine_directory(engine))
        self.assigner = assigner
        self.topic_lookup = topic_lookup
        self.clock = clock
        self.listeners: list[Notify] = []

    @contextmanager
    def _tx(self, session: Session | None) -> Iterator[Session]:
        if session is not None:
            yield session
            return
        with session_scope(self.sessions) as own:
            yield own

    # ------------------------------------------------------------------ creation
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
        rows = s.execute(
            select(Message.sentiment_label, Message.sentiment_score, Message.anger)
            .where(
                Message.conversation_id == conversation_id,
                Message.direction == "in",
                Message.sentiment_label.is_not(None),
            )
            .order_by(Message.id.desc())
            .limit(RECENT_FEELINGS)
        ).all()
        feelings = tuple(Feeling.stored(label, score, anger) for label, score, anger in reversed(rows))
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

    # ------------------------------------------------------------------ reading
    def get(self, ticket_id: int | str, *, session: Session | None = None) -> tuple[Ticket, list[TicketEvent]]:
        with self._tx(session) as s:
            ticket = self._load(s, ticket_id)
            history = s.scalars(
                select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
            ).all()
            return ticket, list(history)

    def list_tickets(
        self,
        *,
        status: list[str] | None = None,
        category: str | None = None,
        assignee_id: int | None = None,
        unassigned: bool = False,
        breached: bool | None = None,
        customer_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
        visible: ColumnElement[bool] | None = None,
        categories: list[str] | None = None,
        at_risk: bool = False,
    ) -> tuple[list[Ticket], int]:
        """Tickets, most urgent first (priority, then the nearest resolution due time).

        ``visible`` limits the rows to what the caller may see (``router.tickets.access``); ``categories`` to some
        skill groups (a team's queue); ``at_risk`` to open tickets whose SLA is breached or due within
        :data:`~router.tickets.sla.AT_RISK_S` (tickets waiting on the customer are paused, so never at risk)."""
        with session_scope(self.sessions) as s:
            query = select(Ticket)
            if visible is not None:
                query = query.where(visible)
            if categories is not None:
                query = query.where(Ticket.category.in_(categories))
            if at_risk:
                soon = self.clock() + timedelta(seconds=AT_RISK_S)
                query = query.where(
                    Ticket.status.in_(("new", "assigned")),
                    or_(
                        Ticket.first_response_breached,
                        Ticket.resolution_breached,
                        Ticket.first_responded_at.is_(None) & (Ticket.first_response_due_at <= soon),
                        Ticket.resolution_due_at <= soon,
                    ),
                )
            if status:
                query = query.where(Ticket.status.in_(status))
            if category:
                query = query.where(Ticket.category == category)
            if assignee_id is not None:
                query = query.where(Ticket.assignee_id == assignee_id)
            if unassigned:
                query = query.where(Ticket.assignee_id.is_(None))
            if customer_id:
                query = query.where(Ticket.customer_id == customer_id)
            if breached is not None:
                cond = Ticket.first_response_breached | Ticket.resolution_breached
                query = query.where(cond if breached else ~cond)
            total = s.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = s.scalars(
                query.order_by(Ticket.priority.desc(), Ticket.resolution_due_at, Ticket.id).limit(limit).offset(offset)
            ).all()
            return list(rows), int(total)

    # ------------------------------------------------------------------ changes
    def update(
        self,
        ticket_id: int | str,
        *,
        actor_id: int | None,
        status: str | None = None,
        priority: int | None = None,
        category: str | None = None,
        assignee_id: int | None = None,
        note: str | None = None,
    ) -> Ticket:
        with session_scope(self.sessions) as s:
            ticket = self._load(s, ticket_id, for_update=True)
            if assignee_id is not None and assignee_id != ticket.assignee_id:
                self._require_agent(assignee_id)
                self._assign(s, ticket, assignee_id, actor=actor_id, how="manual", note=note)
            if category is not None and category != ticket.category:
                old = ticket.category
                ticket.category = category
                first_due, resolve_due = self.sla.due(category, ticket.priority, aware(ticket.created_at))
                ticket.first_response_due_at, ticket.resolution_due_at = first_due, resolve_due
                self._log(s, ticket, "category_changed", actor_id, old=old, new=category, note=note)
            if priority is not None and priority != ticket.priority:
                old_p = ticket.priority
                ticket.priority = priority
                first_due, resolve_due = self.sla.due(ticket.category, priority, aware(ticket.created_at))
                ticket.first_response_due_at, ticket.resolution_due_at = first_due, resolve_due
                self._log(s, ticket, "priority_changed", actor_id, old=old_p, new=priority, note=note)
            if status is not None and status != ticket.status:
                self._transition(s, ticket, status, actor_id, note=note)
            ticket.updated_at = self.clock()
            return ticket

    def comment(self, ticket_id: int | str, *, actor_id: int | None, text: str, public: bool = True) -> TicketEvent:
        """An agent's reply to the customer (``public``) or an internal note. The first public reply by an agent
        stops the first-response timer; a reply from the customer (actor None) takes a waiting ticket back."""
        with session_scope(self.sessions) as s:
            ticket = self._load(s, ticket_id, for_update=True)
            if ticket.status == "closed":
                raise InvalidTransition(ticket.id, ticket.status, "commented")
            now = self.clock()
            event = self._log(s, ticket, "comment", actor_id, text=text, public=public)
            if public and actor_id is not None and ticket.first_responded_at is None:
                ticket.first_responded_at = now
                self._log(s, ticket, "first_response", actor_id)
            if actor_id is None and ticket.status == "waiting_customer":
                self._transition(s, ticket, "assigned", None, note="customer replied")
            ticket.updated_at = now
            s.flush()
            return event

    def assign(self, ticket_id: int | str, *, actor_id: int | None, agent_id: int | None = None) -> Ticket:
        """Assign to a named agent, or let the skill router choose."""
        with session_scope(self.sessions) as s:
            ticket = self._load(s, ticket_id, for_update=True)
            if ticket.status in ("resolved", "closed"):
                raise InvalidTransition(ticket.id, ticket.status, "assigned")
            if agent_id is not None:
                self._require_agent(agent_id)
                self._assign(s, ticket, agent_id, actor=actor_id, how="manual")
            elif not self._auto_assign(s, ticket, actor=actor_id, exclude=ticket.assignee_id):
                raise NoEligibleAgent(ticket.category)
            return ticket

    def assign_to_group(self, ticket_id: int | str, *, actor_id: int | None, skill: str) -> Ticket:
        """Hand a ticket to a skill group: its category becomes ``skill`` (SLA targets follow) and the skill router
        picks an agent of that group (any agent when the group has nobody, as for new tickets)."""
        with session_scope(self.sessions) as s:
            ticket = self._load(s, ticket_id, for_update=True)
            if ticket.status in ("resolved", "closed"):
                raise InvalidTransition(ticket.id, ticket.status, "assigned")
            if skill != ticket.category:
                old = ticket.category
                ticket.category = skill
                ticket.first_response_due_at, ticket.resolution_due_at = self.sla.due(
                    skill, ticket.priority, aware(ticket.created_at)
                )
                self._log(s, ticket, "category_changed", actor_id, old=old, new=skill)
            if not self._auto_assign(s, ticket, actor=actor_id):
                raise NoEligibleAgent(skill)
            ticket.updated_at = self.clock()
            return ticket

    def conversation_owner(self, conversation_id: str) -> tuple[bool, int | None]:
        """(whether the conversation exists, the agent holding or last holding it)."""
        with session_scope(self.sessions) as s:
            conv = s.get(Conversation, conversation_id)
            return (conv is not None, conv.agent_id if conv is not None else None)

    def transcript(self, conversation_id: str, *, limit: int = 500) -> list[dict[str, Any]]:
        """The messages of a ticket's conversation, oldest first (unmasked: the API masks them for agents)."""
        with session_scope(self.sessions) as s:
            rows = s.scalars(
                select(Message)
                .where(Message.conversation_id == conversation_id)
                .order_by(Message.id.desc())
                .limit(limit)
            ).all()
            return [
                {
                    "id": m.id,
                    "sender": "customer" if m.direction == "in" else m.sender,
                    "text": m.text,
                    "agent_id": m.agent_id,
                    "created_at": aware(m.created_at),
                }
                for m in reversed(rows)
            ]

    def check_breaches(self, *, now: datetime | None = None) -> list[tuple[str, str]]:
        """Mark tickets whose SLA timers ran out (once per timer, with a history entry). Returns (ref, which)."""
        now = aware(now or self.clock())
        found: list[tuple[str, str]] = []
        with session_scope(self.sessions) as s:
            rows = s.scalars(
                select(Ticket).where(
                    Ticket.status.in_(OPEN_STATUSES),
                    or_(
                        ~Ticket.first_response_breached & Ticket.first_responded_at.is_(None),
                        ~Ticket.resolution_breached,
                    ),
                )
            ).all()
            for ticket in rows:
                state = sla_state(ticket, now)
                if state.first_response_breached and not ticket.first_response_breached:
                    ticket.first_response_breached = True
                    self._log(
                        s,
                        ticket,
                        "sla_breached",
                        None,
                        timer="first_response",
                        due_at=state.first_response_due_at.isoformat(),
                    )
                    found.append((str(ticket.ref), "first_response"))
                if state.resolution_breached and not ticket.resolution_breached:
                    ticket.resolution_breached = True
                    self._log(
                        s, ticket, "sla_breached", None, timer="resolution", due_at=state.resolution_due_at.isoformat()
                    )
                    found.append((str(ticket.ref), "resolution"))
        return found

    # ------------------------------------------------------------------ internals
    def _load(self, s: Session, ticket_id: int | str, *, for_update: bool = False) -> Ticket:
        query = select(Ticket)
        if isinstance(ticket_id, int) or (str(ticket_id).isascii() and str(ticket_id).isdigit()):
            if not 0 < int(ticket_id) < 2**62:  # no row has such an id (and SQLite cannot bind it)
                raise TicketNotFound(ticket_id)
            query = query.where(Ticket.id == int(ticket_id))
        else:
            query = query.where(Ticket.ref == str(ticket_id))
        if for_update:
            query = query.with_for_update()
        ticket = s.scalar(query)
        if ticket is None:
            raise TicketNotFound(ticket_id)
        return ticket

    def _require_agent(self, agent_id: int) -> None:
        if self.assigner is None:
            return
        if not any(a.id == agent_id for a in self.assigner.directory()):
            raise InvalidTicket(f"agent {agent_id} does not exist or cannot take tickets", agent_id=agent_id)

    def _log(self, s: Session, ticket: Ticket, type_: str, actor_id: int | None, **data: Any) -> TicketEvent:
        event = TicketEvent(ticket_id=ticket.id, type=type_, actor_id=actor_id, data=data, created_at=self.clock())
        s.add(event)
        return event

    def _assign(
        self, s: Session, ticket: Ticket, agent_id: int, *, actor: int | None, how: str, note: str | None = None
    ) -> None:
        old = ticket.assignee_id
        ticket.assignee_id = agent_id
        self._log(s, ticket, "assigned", actor, old=old, new=agent_id, how=how, note=note)
        self._notify_after_commit(
            s,
            agent_id,
            {
                "type": "ticket_assigned",
                "ticket_id": ticket.id,
                "ref": ticket.ref,
                "subject": ticket.subject,
                "category": ticket.category,
                "priority": ticket.priority,
            },
        )
        if ticket.status == "new":
            self._transition(s, ticket, "assigned", actor)

    def _notify_after_commit(self, s: Session, agent_id: int, notice: dict[str, Any]) -> None:
        """Tell listeners only once the assignment is durable (the caller's transaction may still roll back)."""
        if not self.listeners:
            return
        pending: list[tuple[int, dict[str, Any]]] = s.info.setdefault(NOTICES_KEY, [])
        if not pending:
            event.listen(s, "after_commit", self._flush_notices, once=True)
            event.listen(s, "after_rollback", _drop_notices, once=True)
        pending.append((agent_id, notice))

    def _flush_notices(self, s: Session) -> None:
        for agent_id, notice in s.info.pop(NOTICES_KEY, []):
            if notice.get("ref") is None:
                continue
            for listener in list(self.listeners):
                try:
                    listener(agent_id, notice)
                except Exception:  # a failing push must not undo or block the ticket
                    log.exception("ticket notice to agent %s failed", agent_id)

    def _auto_assign(self, s: Session, ticket: Ticket, *, actor: int | None, exclude: int | None = None) -> bool:
        if self.assigner is None:
            return False
        agent = self.assigner.choose(s, ticket.category, exclude=exclude)
        if agent is None:
            return False
        self._assign(s, ticket, agent.id, actor=actor, how="router")
        return True

    def _transition(self, s: Session, ticket: Ticket, target: str, actor: int | None, note: str | None = None) -> None:
        if target not in TRANSITIONS.get(ticket.status, frozenset()):
            raise InvalidTransition(ticket.id, ticket.status, target)
        if target == "assigned" and ticket.assignee_id is None:
            raise InvalidTicket("assign the ticket to an agent first", ticket_id=ticket.id)
        now = self.clock()
        if ticket.waiting_since is not None and target != "waiting_customer":
            # waiting on the customer does not count against the resolution target
            ticket.resolution_due_at = aware(ticket.resolution_due_at) + (now - aware(ticket.waiting_since))
            ticket.waiting_since = None
        if target == "waiting_customer":
            ticket.waiting_since = now
        if target == "resolved":
            ticket.resolved_at = now
        if target == "closed":
            ticket.closed_at = now
            ticket.resolved_at = ticket.resolved_at or now
        if ticket.status == "resolved" and target == "assigned":
            ticket.resolved_at = None
        if target == "new":
            ticket.assignee_id = None
        old = ticket.status
        ticket.status = target
        ticket.updated_at = now
        self._log(s, ticket, "status_changed", actor, old=old, new=target, note=note)


def _drop_notices(s: Session) -> None:
    s.info.pop(NOTICES_KEY, None)


def _subject(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 60 else line[:59] + "…"
