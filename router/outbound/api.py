"""Admin API and page for outbound delivery, and the agent console's delivery statuses."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from router.api.deps import SessionsDep
from router.auth import CurrentAgent, Principal, require_role
from router.conversations.access import staff_conversation
from router.db import session_scope
from router.outbound.errors import DeliveryNotFound
from router.outbound.service import OutboundAdmin

router = APIRouter(prefix="/api/v1/admin/outbound", tags=["outbound"])
agent_router = APIRouter(prefix="/api/v1/agents", tags=["agents"])
page_router = APIRouter(include_in_schema=False)
CurrentAdmin = Annotated[Principal, Depends(require_role())]


def get_admin(request: Request) -> OutboundAdmin:
    admin: OutboundAdmin = request.app.state.outbound_admin
    return admin


AdminDep = Annotated[OutboundAdmin, Depends(get_admin)]


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=8, max_length=2048)


class EnabledIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool


ChannelPath = Literal["app"]


@router.get("/endpoints", summary="Registered callbacks (secrets are never shown again)")
def list_endpoints(_: CurrentAdmin, admin: AdminDep) -> list[dict[str, Any]]:
    return admin.endpoints()


@router.put(
    "/endpoints/{channel}",
    summary="Register or replace a channel's callback URL",
    description="Returns the signing secret once; store it at the receiver. Private addresses are refused "
    "outside dev mode, and https is required there.",
)
async def register_endpoint(channel: ChannelPath, body: EndpointIn, _: CurrentAdmin, admin: AdminDep) -> dict[str, Any]:
    endpoint, secret = await run_in_threadpool(admin.register, channel=channel, url=body.url)
    return {**endpoint, "secret": secret}


@router.post("/endpoints/{channel}/rotate-secret", summary="New signing secret (shown once)")
def rotate_secret(channel: ChannelPath, _: CurrentAdmin, admin: AdminDep) -> dict[str, Any]:
    endpoint, secret = admin.rotate_secret(channel=channel)
    return {**endpoint, "secret": secret}


@router.put("/endpoints/{channel}/enabled", summary="Pause or resume deliveries (resumes after a 410)")
def set_enabled(channel: ChannelPath, body: EnabledIn, _: CurrentAdmin, admin: AdminDep) -> dict[str, Any]:
    return admin.set_enabled(channel=channel, enabled=body.enabled)


@router.delete("/endpoints/{channel}", summary="Remove the callback (undelivered rows are dead-lettered)")
def remove_endpoint(channel: ChannelPath, _: CurrentAdmin, admin: AdminDep) -> dict[str, int]:
    return {"dead_lettered": admin.remove(channel=channel)}


@router.get("/messages", summary="Deliveries, newest first; status=dead is the dead-letter list")
def list_messages(
    _: CurrentAdmin,
    admin: AdminDep,
    status: Annotated[Literal["pending", "delivered", "dead"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[dict[str, Any]]:
    return admin.messages(status=status, limit=limit, offset=offset)


@router.post("/messages/{outbound_id}/retry", summary="Send a dead-lettered delivery again (same idempotency key)")
def retry_message(outbound_id: int, _: CurrentAdmin, admin: AdminDep) -> dict[str, Any]:
    if not 1 <= outbound_id <= 2**31 - 1:  # beyond what the database holds: unknown, not a 500
        raise DeliveryNotFound(outbound_id)
    return admin.retry(outbound_id=outbound_id)


@router.post("/dead-letters/retry", summary="Send every dead-lettered delivery again")
def retry_dead(_: CurrentAdmin, admin: AdminDep) -> dict[str, int]:
    return {"requeued": admin.retry_all_dead()}


@agent_router.get(
    "/conversations/{conversation_id}/deliveries",
    summary="Whether each message reached an app / mini-program shopper (delivered, retrying, failed + reason)",
)
def deliveries(
    conversation_id: str, agent: CurrentAgent, admin: AdminDep, sessions: SessionsDep
) -> list[dict[str, Any]]:
    # an agent sees the conversations offered or assigned to them, as for the context panel
    with session_scope(sessions) as session:
        staff_conversation(session, conversation_id, staff_id=agent.id, role=agent.role, unassigned_too=True)
    return admin.statuses(conversation_id=conversation_id)


@page_router.get("/admin/outbound")
def outbound_page() -> HTMLResponse:
    from router.web.pages import _page

    return _page("outbound_admin.html")
