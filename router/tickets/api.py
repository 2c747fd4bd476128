"""Tickets REST API (agent console): list, read with history, create, change, comment, assign through the router.

Agents see the tickets assigned to them or opened by them and those of their skill groups; supervisors see all
(``router.tickets.access``). Any other ticket answers 404, whatever the method."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from router.api.deps import TicketsDep
from router.auth import CurrentAgent, Principal
from router.clock import aware
from router.identity.pii import mask_text
from router.staff_scope import AgentScope, StaffScope
from router.tickets.access import may_see, visible_clause
from router.tickets.errors import NotAllowed, TicketNotFound
from router.tickets.models import Ticket, TicketEvent
from router.tickets.schemas import (
    AssignIn,
    CommentIn,
    SlaOut,
    SlaPolicyOut,
    TicketConversation,
    TicketCreate,
    TicketDetail,
    TicketEventOut,
    TicketOut,
    TicketPage,
    TicketPatch,
    TranscriptLine,
)
from router.tickets.service import TicketService
from router.tickets.sla import sla_state

router = APIRouter(prefix="/api/v1/tickets", tags=["tickets"])
SUPERVISING = ("supervisor", "admin")
HAND_OVER_ZH = "只有主管可以把工单转给其他人。"


def ticket_out(ticket: Ticket, now: datetime) -> TicketOut:
    return TicketOut.model_validate({**_fields(ticket), "sla": _sla(ticket, now)})


def _fields(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "ref": ticket.ref or "",
        "source": ticket.source,
        "status": ticket.status,
        # shoppers' words (left messages) are agent-facing text: phone numbers and street addresses masked
        "subject": mask_text(ticket.subject),
        "description": mask_text(ticket.description or ""),
        "category": ticket.category,
        "topic": ticket.topic,
        "priority": ticket.priority,
        "vip": ticket.vip,
        "conversation_id": ticket.conversation_id,
        "customer_id": ticket.customer_id,
        "channel": ticket.channel,
        "assignee_id": ticket.assignee_id,
        "created_by": ticket.created_by,
        "created_at": aware(ticket.created_at),
        "updated_at": aware(ticket.updated_at),
        "first_responded_at": aware(ticket.first_responded_at) if ticket.first_responded_at else None,
        "resolved_at": aware(ticket.resolved_at) if ticket.resolved_at else None,
        "closed_at": aware(ticket.closed_at) if ticket.closed_at else None,
    }


def _sla(ticket: Ticket, now: datetime) -> SlaOut:
    state = sla_state(ticket, now)
    return SlaOut(**state.__dict__, at_risk=state.at_risk and ticket.status in ("new", "assigned"))


def _event_out(event: TicketEvent) -> TicketEventOut:
    data = dict(event.data or {})
    if isinstance(data.get("text"), str):
        data["text"] = mask_text(data["text"])
    return TicketEventOut(
        id=event.id, type=event.type, actor_id=event.actor_id, data=data, created_at=aware(event.created_at)
    )


def _detail(service: TicketService, ticket_id: int) -> TicketDetail:
    ticket, history = service.get(ticket_id)
    now = service.clock()
    return TicketDetail.model_validate(
        {**_fields(ticket), "sla": _sla(ticket, now), "history": [_event_out(e) for e in history]}
    )


def _visible(service: TicketService, scope: StaffScope, ticket_id: int | str) -> Ticket:
    """The ticket, or TicketNotFound when the caller may not see it (the same answer as a missing one)."""
    ticket, _ = service.get(ticket_id)
    if not may_see(scope, ticket):
        raise TicketNotFound(ticket_id)
    return ticket


def _may_change(user: Principal | StaffScope, ticket: Ticket) -> None:
    if user.role in SUPERVISING or ticket.assignee_id in (None, user.id):
        return
    raise NotAllowed("only the assignee or a supervisor may change this ticket", ticket_id=ticket.id)


@router.get("", response_model=TicketPage, summary="List tickets, most urgent first")
def list_tickets(
    service: TicketsDep,
    user: AgentScope,
    status: Annotated[
        list[Literal["new", "assigned", "waiting_customer", "resolved", "closed"]] | None,
        Query(description="repeat to combine; default: every status"),
    ] = None,
    category: Annotated[str | None, Query(max_length=32)] = None,
    assignee: Annotated[
        str | None, Query(pattern=r"^(me|none|[0-9]{1,18})$", description="me | none | an agent id")
    ] = None,
    breached: Annotated[bool | None, Query(description="only tickets with (or without) an SLA breach")] = None,
    customer_id: Annotated[str | None, Query(max_length=128)] = None,
    team: Annotated[bool, Query(description="only the tickets of the caller's skill groups")] = False,
    at_risk: Annotated[bool, Query(description="only open tickets breached or due within the hour")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,  # larger ints overflow the database's integers
) -> TicketPage:
    assignee_id = user.id if assignee == "me" else (int(assignee) if assignee and assignee.isdigit() else None)
    rows, total = service.list_tickets(
        visible=visible_clause(user),
        categories=sorted(user.skills) if team else None,
        at_risk=at_risk,
        status=list(status) if status else None,
        category=category,
        assignee_id=assignee_id,
        unassigned=assignee == "none",
        breached=breached,
        customer_id=customer_id,
        limit=limit,
        offset=offset,
    )
    now = service.clock()
    return TicketPage(items=[ticket_out(t, now) for t in rows], total=total, limit=limit, offset=offset)


@router.get("/sla", response_model=SlaPolicyOut, summary="SLA targets per category (seconds)")
def sla_policy(service: TicketsDep, _user: CurrentAgent) -> SlaPolicyOut:
    return SlaPolicyOut(
        urgent_priority=service.sla.urgent_priority,
        targets={k: {"first_response_s": v[0], "resolution_s": v[1]} for k, v in service.sla.targets.items()},
    )


@router.post("", response_model=TicketDetail, status_code=201, summary="Open a ticket (agent)")
def create_ticket(body: TicketCreate, service: TicketsDep, user: CurrentAgent) -> TicketDetail:
    if body.conversation_id is not None and user.role not in SUPERVISING:
        exists, holder = service.conversation_owner(body.conversation_id)
        if exists and holder != user.id:
            raise NotAllowed("only the agent who holds the conversation may open a ticket from it",
                             message_zh="只有正在接待该会话的客服可以从会话创建工单。")
    ticket = service.create(
        source="agent",
        subject=body.subject,
        description=body.description,
        category=body.category,
        priority=body.priority,
        conversation_id=body.conversation_id,
        customer_id=body.customer_id,
        channel=body.channel,
        created_by=user.id,
        assign=body.assign,
    )
    return _detail(service, ticket.id)


@router.get("/{ticket_id}", response_model=TicketDetail, summary="One ticket with its full history")
def get_ticket(
    ticket_id: Annotated[str, Path(max_length=24, description="numeric id or ref (e.g. T2026112400042)")],
    service: TicketsDep,
    user: AgentScope,
) -> TicketDetail:
    ticket = _visible(service, user, ticket_id)
    return _detail(service, ticket.id)


@router.get(
    "/{ticket_id}/conversation",
    response_model=TicketConversation,
    summary="The conversation a ticket came from (masked transcript)",
)
def ticket_conversation(ticket_id: str, service: TicketsDep, user: AgentScope) -> TicketConversation:
    ticket = _visible(service, user, ticket_id)
    if not ticket.conversation_id:
        raise TicketNotFound(ticket_id)
    lines = service.transcript(ticket.conversation_id)
    return TicketConversation(
        conversation_id=ticket.conversation_id,
        transcript=[TranscriptLine(**{**line, "text": mask_text(str(line["text"]))}) for line in lines],
    )


@router.patch("/{ticket_id}", response_model=TicketDetail, summary="Change status, priority, category or assignee")
def patch_ticket(ticket_id: str, body: TicketPatch, service: TicketsDep, user: AgentScope) -> TicketDetail:
    ticket = _visible(service, user, ticket_id)
    _may_change(user, ticket)
    if body.assignee_id is not None and body.assignee_id != user.id and not user.supervising:
        raise NotAllowed("only a supervisor may hand a ticket to someone else", message_zh=HAND_OVER_ZH)
    service.update(
        ticket.id,
        actor_id=user.id,
        status=body.status,
        priority=body.priority,
        category=body.category,
        assignee_id=body.assignee_id,
        note=body.note,
    )
    return _detail(service, ticket.id)


@router.post(
    "/{ticket_id}/comments",
    response_model=TicketDetail,
    status_code=201,
    summary="Reply or add a note",
    description="A public reply on a ticket that came from a shopper's conversation is also written into that "
    "conversation's history and pushed to the shopper's open chat windows.",
)
async def comment_ticket(
    ticket_id: str, body: CommentIn, service: TicketsDep, user: AgentScope, request: Request
) -> TicketDetail:
    def work() -> tuple[TicketDetail, Ticket]:
        ticket = _visible(service, user, ticket_id)
        _may_change(user, ticket)
        service.comment(ticket.id, actor_id=user.id, text=body.text, public=body.public)
        return _detail(service, ticket.id), ticket

    detail, ticket = await run_in_threadpool(work)
    gateway = getattr(request.app.state, "gateway", None)
    if body.public and gateway is not None and ticket.conversation_id:
        await gateway.ticket_reply(
            conversation_id=ticket.conversation_id,
            ticket_ref=ticket.ref or str(ticket.id),
            agent_id=user.id,
            text=body.text,
        )
    return detail


@router.post(
    "/{ticket_id}/assign",
    response_model=TicketDetail,
    summary="Assign to an agent, or to a skill group (the skill router picks; also when neither is given)",
)
def assign_ticket(ticket_id: str, body: AssignIn, service: TicketsDep, user: AgentScope) -> TicketDetail:
    ticket = _visible(service, user, ticket_id)
    if not user.supervising and body.agent_id not in (None, user.id):
        raise NotAllowed("only a supervisor may hand a ticket to someone else", message_zh=HAND_OVER_ZH)
    _may_change(user, ticket)
    if body.skill is not None:
        service.assign_to_group(ticket.id, actor_id=user.id, skill=body.skill)
    else:
        service.assign(ticket.id, actor_id=user.id, agent_id=body.agent_id)
    return _detail(service, ticket.id)
