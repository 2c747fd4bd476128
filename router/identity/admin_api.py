"""Staff endpoints about personal data: an agent's audited "show" of a masked transcript and order, and an admin's
export or erasure of one customer's data (the same as ``kefu customer export|erase ID``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from router.api.deps import SessionsDep, SettingsDep
from router.auth import CurrentAgent, Principal, require_role
from router.conversations.access import staff_conversation
from router.db import session_scope
from router.gateway.deps import ContextDep
from router.identity.erasure import erase_customer, export_customer
from router.identity.models import PersonalDataAccess
from router.identity.pii import revealed_order

router = APIRouter(tags=["personal data"])
CurrentAdmin = Annotated[Principal, Depends(require_role("admin"))]


@router.post(
    "/api/v1/agents/conversations/{conversation_id}/reveal",
    summary="The unmasked transcript and order panel data (phone numbers, addresses); every call is audited",
)
async def reveal(
    conversation_id: str, agent: CurrentAgent, sessions: SessionsDep, builder: ContextDep, settings: SettingsDep
) -> dict[str, Any]:
    """``transcript``: every line in full; ``order``: the full address and logistics note of the order the panel
    shows (None without one), with the ``personal_ref`` the masked panel carries for that same data. One audit row."""

    def audited_load() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        with session_scope(sessions) as session:
            conv = staff_conversation(
                session, conversation_id, staff_id=agent.id, role=agent.role, unassigned_too=False
            )
            session.add(PersonalDataAccess(action="reveal", user_id=agent.id, conversation_id=conversation_id))
            return builder.load(session, conv)

    fields, transcript = await run_in_threadpool(audited_load)
    order = await builder.order(fields, transcript)
    return {
        "conversation_id": conversation_id,
        "transcript": transcript,
        "order": revealed_order(order, secret=settings.secret_key),
    }


@router.get("/api/v1/admin/customers/{customer_id}/export", summary="Everything stored about one customer (audited)")
async def export(customer_id: str, admin: CurrentAdmin, sessions: SessionsDep) -> dict[str, Any]:
    return await run_in_threadpool(export_customer, sessions, customer_id, user_id=admin.id)


@router.post("/api/v1/admin/customers/{customer_id}/erase", summary="Erase one customer's personal data (audited)")
async def erase(customer_id: str, admin: CurrentAdmin, sessions: SessionsDep) -> dict[str, int]:
    return await run_in_threadpool(erase_customer, sessions, customer_id, user_id=admin.id)
