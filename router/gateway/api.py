"""Shopper-facing HTTP and WebSocket endpoints: the public message API and the web / app / mini-program channels."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from router.db import session_scope
from router.gateway.limits import RateLimited
from router.gateway.models import Conversation, Message
from router.gateway.schemas import (
    MAX_TEXT_CHARS,
    Button,
    HistoryMessage,
    InboundMessage,
    MessageResponse,
    Reply,
    SurveyIn,
)
from router.gateway.service import GatewayService

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["shoppers"])


def get_gateway(request: Request) -> GatewayService:
    gateway: GatewayService = request.app.state.gateway
    return gateway


GatewayDep = Annotated[GatewayService, Depends(get_gateway)]


async def _handle(gateway: GatewayService, inbound: InboundMessage) -> MessageResponse:
    try:
        return await gateway.handle(inbound)
    except RateLimited as exc:
        retry = max(1, round(exc.retry_after_s))
        raise HTTPException(
            status_code=429, detail=f"too many messages; retry in {retry} s", headers={"Retry-After": str(retry)}
        ) from exc


@router.post("/messages", response_model=MessageResponse, summary="Send a shopper message from any channel")
async def post_message(body: InboundMessage, gateway: GatewayDep) -> MessageResponse:
    """The public entry point: persist, score sentiment, route to the bot, the queue or an agent."""
    return await _handle(gateway, body)


class AppMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(min_length=1, max_length=128)
    text: str = Field(max_length=MAX_TEXT_CHARS)
    client_msg_id: str | None = Field(default=None, max_length=64)


class MiniProgramMessage(BaseModel):
    """A mini-program customer-service message; the openid is the identity."""

    model_config = ConfigDict(extra="forbid")
    openid: str = Field(min_length=1, max_length=128)
    content: str = Field(max_length=MAX_TEXT_CHARS)
    msgid: str | None = Field(default=None, max_length=64)


class WebMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer_id: str = Field(min_length=1, max_length=128)
    text: str = Field(max_length=MAX_TEXT_CHARS)
    client_msg_id: str | None = Field(default=None, max_length=64)


def _inbound(**values: Any) -> InboundMessage:
    try:
        return InboundMessage(**values)
    except ValidationError as exc:
        raise HTTPException(status_code=422, detail=json.loads(exc.json(include_url=False))) from exc


@router.post("/channels/app/messages", response_model=MessageResponse, summary="App channel (REST)")
async def app_message(body: AppMessage, gateway: GatewayDep) -> MessageResponse:
    return await _handle(
        gateway, _inbound(channel="app", customer_id=body.user_id, text=body.text, client_msg_id=body.client_msg_id)
    )


@router.post("/channels/miniprogram/messages", response_model=MessageResponse, summary="Mini-program channel (REST)")
async def miniprogram_message(body: MiniProgramMessage, gateway: GatewayDep) -> MessageResponse:
    return await _handle(
        gateway, _inbound(channel="miniprogram", customer_id=body.openid, text=body.content, client_msg_id=body.msgid)
    )


@router.post("/channels/web/messages", response_model=MessageResponse, summary="Web channel, REST fallback")
async def web_message(body: WebMessage, gateway: GatewayDep) -> MessageResponse:
    return await _handle(
        gateway, _inbound(channel="web", customer_id=body.customer_id, text=body.text, client_msg_id=body.client_msg_id)
    )


@router.get(
    "/conversations/{conversation_id}/history",
    response_model=list[HistoryMessage],
    summary="The customer's recent messages across channels (the conversation id is the shopper's capability)",
)
async def history(
    conversation_id: str, gateway: GatewayDep, limit: Annotated[int, Query(ge=1, le=500)] = 200
) -> list[HistoryMessage]:
    with session_scope(gateway.sessions) as session:
        conv = session.get(Conversation, conversation_id)
        if conv is None:
            raise HTTPException(status_code=404, detail="conversation not found")
        rows = session.scalars(
            select(Message).where(Message.customer_id == conv.customer_id).order_by(Message.id.desc()).limit(limit)
        ).all()
        return [_history_row(m) for m in reversed(rows)]


def _history_row(m: Message) -> HistoryMessage:
    return HistoryMessage(
        id=m.id,
        conversation_id=m.conversation_id,
        direction="in" if m.direction == "in" else "out",
        sender=m.sender,
        channel=m.channel,
        text=m.text,
        buttons=[Button(**b) for b in (m.buttons or [])],
        sentiment_label=m.sentiment_label,
        sentiment_score=m.sentiment_score,
        created_at=m.created_at.isoformat(),
    )


@router.get("/customers/{customer_id}/state", summary="Where a shopper's current conversation stands")
async def customer_state(customer_id: str, gateway: GatewayDep) -> dict[str, Any]:
    with session_scope(gateway.sessions) as session:
        conv = session.scalar(
            select(Conversation).where(Conversation.customer_id == customer_id).order_by(Conversation.created_at.desc())
        )
        if conv is None:
            return {"conversation_id": None, "owner": "bot", "status": None, "survey_pending": False, "queue": None}
        conv_id, owner = conv.id, conv.owner
    status = await run_in_threadpool(gateway.queue.queue_status, conv_id) if owner == "queue" else None
    with session_scope(gateway.sessions) as session:
        conv = session.get(Conversation, conv_id)
        assert conv is not None
        return {
            "conversation_id": conv.id,
            "owner": conv.owner,
            "status": conv.status,
            "survey_pending": conv.survey_pending,
            "queue": {"position": status.position, "eta_s": status.eta_s} if status else None,
        }


class SurveyOut(BaseModel):
    replies: list[Reply]


@router.post("/conversations/{conversation_id}/survey", response_model=SurveyOut,
             summary="Satisfaction rating (1-5 + comment); a second rating updates the first")
async def survey(conversation_id: str, body: SurveyIn, gateway: GatewayDep) -> SurveyOut:
    replies = await gateway.submit_survey(conversation_id=conversation_id, rating=body.rating, comment=body.comment)
    if replies is None:
        raise HTTPException(status_code=404, detail="conversation not found")
    return SurveyOut(replies=replies)


@router.post("/conversations/{conversation_id}/leave", summary="The shopper left (abandons a queued conversation)")
async def leave(conversation_id: str, gateway: GatewayDep) -> dict[str, bool]:
    return {"abandoned": await gateway.shopper_left(conversation_id=conversation_id)}


@router.websocket("/channels/web/ws")
async def web_socket(websocket: WebSocket, customer_id: Annotated[str, Query(min_length=1, max_length=128)]) -> None:
    """Web channel: the shopper sends ``{"text": ..., "client_msg_id": ...}`` and receives pushed reply events."""
    gateway: GatewayService = websocket.app.state.gateway
    sockets = websocket.app.state.customer_sockets
    await websocket.accept()
    sockets.add(customer_id, websocket)
    try:
        while True:
            raw = await websocket.receive_text()
            try:
                data = json.loads(raw)
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
                await websocket.send_json(
                    {"type": "error", "detail": "发送太频繁了，请稍后再试", "retry_after_s": exc.retry_after_s}
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
