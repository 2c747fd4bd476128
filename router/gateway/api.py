"""Shopper-facing HTTP and WebSocket endpoints: the public message API and the web / app / mini-program channels."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from router.gateway.deps import GatewayDep
from router.gateway.errors import NewVisitorsLimited, RateLimited
from router.gateway.schemas import MAX_TEXT_CHARS, HistoryMessage, InboundMessage, MessageResponse, Reply, SurveyIn
from router.gateway.service import GatewayService
from router.identity import shopper as shopper_api
from router.identity.deps import ChannelKeyHeader, IdentityDep, ShopperDep, WebBearer, channel_backend
from router.identity.errors import ReservedCustomerId
from router.identity.schemas import MessageIn, SessionIn, SessionOut, ShopperMessageResponse, WebMessage
from router.identity.service import RESERVED_PREFIXES, IdentityService, Shopper
from router.identity.sockets import first_frame_shopper

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["shoppers"])


@router.post("/messages", response_model=ShopperMessageResponse, summary="Send a shopper message from any channel")
async def post_message(
    request: Request, body: MessageIn, gateway: GatewayDep, identity: IdentityDep, bearer: WebBearer,
    channel_key: ChannelKeyHeader = None,
) -> ShopperMessageResponse:
    """The public entry point: persist, score sentiment, route to the bot, the queue or an agent.

    Web: anonymous (a ``visitor_token`` comes back), ``Authorization: Bearer <visitor_token>``, or ``customer_id`` +
    ``identity_hash``. App / mini-program: ``X-Kefu-Channel-Key`` of that channel and the customer id."""
    values = {"text": body.text, "client_msg_id": body.client_msg_id, "metadata": body.metadata}
    if body.channel == "web":
        return await _web(request, gateway, identity, bearer, body.customer_id, body.identity_hash, **values)
    identity.check_channel_key(body.channel, channel_key)
    if body.customer_id is None:
        raise HTTPException(status_code=422, detail=f"customer_id is required on the {body.channel} channel")
    inbound = _inbound(channel=body.channel, customer_id=_claimable(body.customer_id), **values)
    return ShopperMessageResponse(**(await gateway.handle(inbound)).model_dump(), customer_id=inbound.customer_id)


async def _web(
    request: Request,
    gateway: GatewayService,
    identity: IdentityService,
    bearer: str | None,
    customer_id: str | None,
    given_hash: str | None,
    **values: Any,
) -> ShopperMessageResponse:
    inbound = _inbound(channel="web", customer_id=customer_id or "anon:pending", **values)  # 422 before admission
    if bearer is None and customer_id is None:  # a new anonymous visitor: bounded per client address
        await _admit_new_visitor(request)
    admitted = await run_in_threadpool(
        identity.admit_web, bearer=bearer, customer_id=customer_id, given_hash=given_hash
    )
    response = await gateway.handle(inbound.model_copy(update={"customer_id": admitted.customer_id}))
    return ShopperMessageResponse(
        **response.model_dump(),
        customer_id=admitted.customer_id,
        verified=admitted.verified,
        visitor_token=admitted.token,
        token_expires_in=int(identity.visitor_token_ttl.total_seconds()) if admitted.token else None,
    )


async def _admit_new_visitor(request: Request) -> None:
    limiter = getattr(request.app.state, "visitor_limiter", None)
    if limiter is None:
        return
    address = request.client.host if request.client is not None else "unknown"
    try:
        await limiter.check(f"new-visitor:{address}")
    except RateLimited as exc:  # the visitor limiter counts addresses: say so (also a 429 with Retry-After)
        raise NewVisitorsLimited(customer_id=f"new-visitor:{address}", retry_after_s=exc.retry_after_s) from exc


def _claimable(customer_id: str) -> str:
    if customer_id.startswith(RESERVED_PREFIXES):
        raise ReservedCustomerId(customer_id)
    return customer_id


class AppMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(min_length=1, max_length=128)
    text: str = Field(max_length=MAX_TEXT_CHARS)
    client_msg_id: str | None = Field(default=None, max_length=64)


class MiniProgramMessage(BaseModel):
    """A mini-program customer-service message; the openid is the identity (bound to a customer by the backend)."""

    model_config = ConfigDict(extra="forbid")
    openid: str = Field(min_length=1, max_length=128)
    content: str = Field(max_length=MAX_TEXT_CHARS)
    msgid: str | None = Field(default=None, max_length=64)


def _inbound(**values: Any) -> InboundMessage:
    try:
        return InboundMessage(**values)
    except ValidationError as exc:
        raise HTTPException(status_code=422, detail=json.loads(exc.json(include_url=False))) from exc


@router.post("/channels/app/messages", response_model=MessageResponse, summary="App channel (REST, shop backend)")
async def app_message(
    body: AppMessage, gateway: GatewayDep, _backend: Annotated[Shopper, Depends(channel_backend("app"))]
) -> MessageResponse:
    inbound = _inbound(
        channel="app", customer_id=_claimable(body.user_id), text=body.text, client_msg_id=body.client_msg_id
    )
    return await gateway.handle(inbound)


@router.post("/channels/miniprogram/messages", response_model=MessageResponse, summary="Mini-program channel (REST)")
async def miniprogram_message(
    body: MiniProgramMessage,
    gateway: GatewayDep,
    _backend: Annotated[Shopper, Depends(channel_backend("miniprogram"))],
) -> MessageResponse:
    return await gateway.handle(
        _inbound(channel="miniprogram", customer_id=body.openid, text=body.content, client_msg_id=body.msgid)
    )


@router.post(
    "/channels/web/messages", response_model=ShopperMessageResponse, summary="Web channel, REST fallback"
)
async def web_message(
    request: Request, body: WebMessage, gateway: GatewayDep, identity: IdentityDep, bearer: WebBearer
) -> ShopperMessageResponse:
    return await _web(
        request, gateway, identity, bearer, body.customer_id, body.identity_hash, text=body.text,
        client_msg_id=body.client_msg_id,
    )


@router.post("/channels/web/session", response_model=SessionOut, summary="A logged-in web shopper's token")
async def web_session(body: SessionIn, identity: IdentityDep, bearer: WebBearer) -> SessionOut:
    """For the widget of a logged-in shopper before the first message (so the history shows at once)."""
    admitted = await run_in_threadpool(
        identity.admit_web, bearer=bearer, customer_id=body.customer_id, given_hash=body.identity_hash
    )
    return SessionOut(
        customer_id=admitted.customer_id,
        verified=admitted.verified,
        visitor_token=admitted.token,
        token_expires_in=int(identity.visitor_token_ttl.total_seconds()),
    )


@router.get(
    "/conversations/{conversation_id}/history",
    response_model=list[HistoryMessage],
    summary="The customer's recent messages across channels (the owner only)",
)
async def history(
    conversation_id: str, gateway: GatewayDep, shopper: ShopperDep, limit: Annotated[int, Query(ge=1, le=500)] = 200
) -> list[HistoryMessage]:
    return await run_in_threadpool(
        shopper_api.history, gateway, shopper=shopper, conversation_id=conversation_id, limit=limit
    )


@router.get("/customers/{customer_id}/state", summary="Where a shopper's current conversation stands")
async def customer_state(customer_id: str, gateway: GatewayDep, shopper: ShopperDep) -> dict[str, Any]:
    # database and routing-engine reads block: off the event loop
    return await run_in_threadpool(shopper_api.customer_state, gateway, shopper=shopper, customer_id=customer_id)


class SurveyOut(BaseModel):
    replies: list[Reply]


@router.post("/conversations/{conversation_id}/survey", response_model=SurveyOut,
             summary="Satisfaction rating (1-5 + comment); a second rating updates the first")
async def survey(conversation_id: str, body: SurveyIn, gateway: GatewayDep, shopper: ShopperDep) -> SurveyOut:
    replies = await shopper_api.submit_survey(
        gateway, shopper=shopper, conversation_id=conversation_id, rating=body.rating, comment=body.comment
    )
    return SurveyOut(replies=replies)


@router.post("/conversations/{conversation_id}/leave", summary="The shopper left (abandons a queued conversation)")
async def leave(conversation_id: str, gateway: GatewayDep, shopper: ShopperDep) -> dict[str, bool]:
    return {"abandoned": await shopper_api.leave(gateway, shopper=shopper, conversation_id=conversation_id)}


@router.websocket("/channels/web/ws")
async def web_socket(websocket: WebSocket) -> None:
    """Web channel. The first frame authenticates: ``{"type": "auth", "token": "<visitor_token>"}`` (answered with
    ``{"type": "ready", "customer_id": ...}``; close code 4401 when missing, unknown or expired). Then the shopper
    sends ``{"text": ..., "client_msg_id": ...}`` and receives pushed reply events; ``{"type": "ping"}`` (the
    widget's heartbeat) is answered with ``{"type": "pong"}``."""
    gateway: GatewayService = websocket.app.state.gateway
    sockets = websocket.app.state.customer_sockets
    await websocket.accept()
    shopper = await first_frame_shopper(websocket, websocket.app.state.identity)
    if shopper is None or shopper.customer_id is None:
        return
    customer_id = shopper.customer_id
    sockets.add(customer_id, websocket)
    try:
        await websocket.send_json({"type": "ready", "customer_id": customer_id, "verified": shopper.kind == "customer"})
        while True:
            raw = await websocket.receive_text()
            try:
                data = json.loads(raw)
                if isinstance(data, dict) and data.get("type") == "ping":  # the widget's heartbeat
                    await websocket.send_json({"type": "pong"})
                    continue
                inbound = InboundMessage(
                    channel="web",
                    customer_id=customer_id,
                    text=data.get("text", ""),
                    client_msg_id=data.get("client_msg_id"),
                )
            except (ValueError, ValidationError, AttributeError) as exc:
                await websocket.send_json({"type": "error", "detail": _reason(exc)})
                continue
            try:
                response = await gateway.handle(inbound)
            except RateLimited as exc:
                # no HTTP answer on a socket: the shopper reads the Chinese wording in an error frame
                await websocket.send_json(
                    {"type": "error", "detail": exc.message_zh, "retry_after_s": exc.retry_after_s}
                )
                continue
            # replies were pushed to every socket of this customer already; this ack carries the routing state
            await websocket.send_json(
                {
                    "type": "ack",
                    "client_msg_id": inbound.client_msg_id,
                    "conversation_id": response.conversation_id,
                    "owner": response.owner,
                    "queue": response.queue.model_dump() if response.queue else None,
                    "message_id": response.message_id,
                }
            )
    except WebSocketDisconnect:
        pass
    finally:
        sockets.remove(customer_id, websocket)


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(str(e.get("msg")) for e in exc.errors())
    return '消息格式不正确：需要 JSON，例如 {"text": "你好"}'
