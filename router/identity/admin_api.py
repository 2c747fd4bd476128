"""Staff endpoints about personal data: an agent's audited "show" of a masked transcript, and an admin's export or
erasure of one customer's data (the same as ``kefu customer export|erase ID``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from router.api.deps import SessionsDep
from router.auth import CurrentAgent, Principal, require_role
from router.conversations.models import Conversation
from router.db import session_scope
from router.gateway.context import ContextBuilder
from router.identity.erasure import CustomerNotFound, erase_customer, export_customer
from router.identity.models import PersonalDataAccess

router = APIRouter(tags=["personal data"])
CurrentAdmin = Annotated[Principal, Depends(require_role("admin"))]


@router.post(
    "/api/v1/agent/conversations/{conversation_id}/reveal",
    summary="The unmasked transcript (phone numbers, addresses); every call is audited",
)
def reveal(conversation_id: str, agent: CurrentAgent, request: Request, sessions: SessionsDep) -> dict[str, Any]:
    builder: ContextBuilder = request.app.state.context_builder
    with session_scope(sessions) as session:
        conv = session.get(Conversation, conversation_id)
        if conv is None:
            raise HTTPException(status_code=404, detail="conversation not found")
        if agent.role == "agent" and conv.agent_id != agent.id:
            raise HTTPException(status_code=403, detail="this conversation is assigned to another agent")
        session.add(PersonalDataAccess(action="reveal", user_id=agent.id, conversation_id=conversation_id))
        return {"conversation_id": conversation_id, "transcript": builder.transcript(session, conv)}


@router.get("/api/v1/admin/customers/{customer_id}/export", summary="Everything stored about one customer (audited)")
async def export(customer_id: str, admin: CurrentAdmin, sessions: SessionsDep) -> dict[str, Any]:
    try:
        return await run_in_threadpool(export_customer, sessions, customer_id, user_id=admin.id)
    except CustomerNotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc


@router.post("/api/v1/admin/customers/{customer_id}/erase", summary="Erase one customer's personal data (audited)")
async def erase(customer_id: str, admin: CurrentAdmin, sessions: SessionsDep) -> dict[str, int]:
    try:
        return await run_in_threadpool(erase_customer, sessions, customer_id, user_id=admin.id)
    except CustomerNotFound as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
