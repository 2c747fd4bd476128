"""Polling fallback for clients that cannot receive callbacks, and Server-Sent Events for the web.

``GET /api/v1/conversations/{id}/messages?after=ID`` answers the conversation's messages with an id above ``after``
(oldest first) and where it stands (owner, status, queue place). ``GET /api/v1/conversations/{id}/events`` streams
the same as SSE: ``event: message`` with ``id:`` the message id (so a reconnecting ``EventSource`` resumes after
``Last-Event-ID``), ``event: state`` when the owner, status or queue place change, and a comment every 15 s to keep
proxies from closing the stream. The stream reads the database, so it works whichever replica the client reaches.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from router.conversations.models import Conversation, Message
from router.db import session_scope
from router.gateway.schemas import Button, HistoryMessage
from router.outbound.access import ReadableConversation

router = APIRouter(prefix="/api/v1", tags=["shoppers"])
MAX_ID = 2**63 - 1
SSE_POLL_S = 1.0
SSE_HEARTBEAT_S = 15.0
SSE_MAX_S = 600.0  # the client reconnects (with Last-Event-ID) after this; bounds a forgotten stream


class ConversationState(BaseModel):
    owner: str
    status: str
    survey_pending: bool
    queue: dict[str, Any] | None = None


class MessagesPage(BaseModel):
    conversation_id: str
    messages: list[HistoryMessage]
    state: ConversationState
    next_after: int


def _row(m: Message) -> HistoryMessage:
    return HistoryMessage(
        id=m.id,
        conversation_id=m.conversation_id,
        direction="in" if m.direction == "in" else "out",
        sender=m.sender,
        channel=m.channel,
        text=m.text,
        buttons=[Button(**b) for b in (m.buttons or [])],
        created_at=m.created_at.isoformat(),
    )


def read_page(request: Request, conversation_id: str, after: int, limit: int) -> MessagesPage:
    with session_scope(request.app.state.sessions) as session:
        conv = session.get(Conversation, conversation_id)
        assert conv is not None
        rows = session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation_id, Message.id > after)
            .order_by(Message.id)
            .limit(limit)
        ).all()
        owner, status, survey = conv.owner, conv.status, conv.survey_pending
    queue = None
    gateway = getattr(request.app.state, "gateway", None)
    if owner == "queue" and gateway is not None:
        place = gateway.queue.queue_status(conversation_id)
        queue = {"position": place.position, "eta_s": place.eta_s} if place else None
    messages = [_row(m) for m in rows]
    return MessagesPage(
        conversation_id=conversation_id,
        messages=messages,
        state=ConversationState(owner=owner, status=status, survey_pending=survey, queue=queue),
        next_after=messages[-1].id if messages else after,
    )


@router.get(
    "/conversations/{conversation_id}/messages",
    response_model=MessagesPage,
    summary="Messages after a given id (polling fallback for clients without a callback)",
)
async def messages_after(
    conversation_id: ReadableConversation,
    request: Request,
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
) -> MessagesPage:
    return await run_in_threadpool(read_page, request, conversation_id, after, limit)


@router.get(
    "/conversations/{conversation_id}/events",
    summary="Server-Sent Events: new messages and state changes of a conversation",
    response_class=StreamingResponse,
)
async def events(
    conversation_id: ReadableConversation,
    request: Request,
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> StreamingResponse:
    if last_event_id and last_event_id.isdigit():
        after = max(after, min(int(last_event_id), MAX_ID))
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(_stream(request, conversation_id, after), media_type="text/event-stream", headers=headers)


async def _stream(request: Request, conversation_id: str, after: int) -> AsyncIterator[str]:
    yield "retry: 3000\n\n"
    state: dict[str, Any] | None = None
    started = last_sent = time.monotonic()
    while time.monotonic() - started < SSE_MAX_S:
        if await request.is_disconnected():
            return
        page = await run_in_threadpool(read_page, request, conversation_id, after, 100)
        for message in page.messages:
            data = json.dumps(message.model_dump(), ensure_ascii=False)
            yield f"id: {message.id}\nevent: message\ndata: {data}\n\n"
            last_sent = time.monotonic()
        after = page.next_after
        current = page.state.model_dump()
        if current != state:
            state = current
            yield f"event: state\ndata: {json.dumps(current, ensure_ascii=False)}\n\n"
            last_sent = time.monotonic()
        if len(page.messages) == 100:
            continue  # more are waiting
        if time.monotonic() - last_sent >= SSE_HEARTBEAT_S:
            yield ": keep-alive\n\n"
            last_sent = time.monotonic()
        await asyncio.sleep(SSE_POLL_S)
