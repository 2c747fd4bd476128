"""Staff endpoints about personal data: an agent's audited "show" of a masked transcript, and an admin's export or
erasure of one customer's data (the same as ``kefu customer export|erase ID``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from router.api.deps import SessionsDep
from router.auth import CurrentAgent, Principal, require_role
from router.conversations.access import staff_conversation
from router.db import session_scope
from router.gateway.context import ContextBuilder
from router.identity.erasure import erase_customer, export_customer
from router.identity.models import PersonalDataAccess

router = APIRouter(tags=["personal data"])
CurrentAdmin = Annotated[Principal, Depends(require_role("admin"))]


@router.post(
    "/api/v1/agents/conversations/{conversation_id}/reveal",
    summary="The unmasked transcript (phone numbers, addresses); every call is audited",
)
def reveal(conversation_id: str, agent: CurrentAgent, request: Request, sessions: SessionsDep) -> dict[str, Any]:
    builder: ContextBuilder = request.app.state.context_builder
    with session_scope(sessions) as session:
        conv = staff_conversation(session, conversation_id, staff_id=agent.id, role=agent.role, unassigned_too=False)
        session.add(PersonalDataAccess(action="reveal", user_id=agent.id, conversation_id=conversation_id))
        return {"conversation_id": conversation_id, "transcript": builder.transcript(session, conv)}


@router.get("/api/v1/admin/customers/{customer_id}/export", summary="Everything stored about one customer (audited)")
async def export(customer_id: str, admin: CurrentAdmin, sessions: SessionsDep) -> dict[str, Any]:
    return await run_in_threadpool(export_customer, sessions, customer_id, user_id=admin.id)


@router.post("/api/v1/admin/customers/{customer_id}/erase", summary="Erase one customer's personal data (audited)")
async def erase(customer_id: str, admin: CurrentAdmin, sessions: SessionsDep) -> dict[str, int]:
    return await run_in_threadpool(erase_customer, sessions, customer_id, user_id=admin.id)
