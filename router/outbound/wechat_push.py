"""WeChat's message push to the mini-program's server URL: the shopper's messages arrive here.

WeChat signs every call with ``signature = sha1(sorted([token, timestamp, nonce]) joined)`` in the query string
(plaintext mode; the token is the one set in the mini-program console, ``KEFU_ROUTER_WECHAT_TOKEN``). The GET
with ``echostr`` verifies the URL once; each POST carries one message as JSON (or XML) and must be answered
``success`` within 5 s, else WeChat sends it again up to three times: the gateway stores a message once per
``MsgId``, and the replies to it go out through the outbox like every other message to a mini-program shopper
(WeChat delivers nothing we put into the HTTP answer of a mini-program push).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Annotated, Any
from xml.etree import ElementTree

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from router.conversations.models import Conversation
from router.db import session_scope
from router.gateway.errors import RateLimited
from router.gateway.schemas import InboundMessage
from router.outbound.outbox import OutboxWriter

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/channels/miniprogram", tags=["shoppers"])
MEDIA_TEXT = {"image": "[图片]", "miniprogrampage": "[小程序卡片]", "voice": "[语音]", "video": "[视频]"}


def push_signature(token: str, timestamp: str, nonce: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()


def _check(request: Request, signature: str, timestamp: str, nonce: str) -> None:
    token = request.app.state.settings.wechat_token
    if not token:
        raise HTTPException(status_code=404, detail="the mini-program message push is not configured")
    if not hmac.compare_digest(push_signature(token, timestamp, nonce), signature.lower()):
        raise HTTPException(status_code=403, detail="bad signature")


Sig = Annotated[str, Query(min_length=1, max_length=64)]
Stamp = Annotated[str, Query(min_length=1, max_length=20)]
Nonce = Annotated[str, Query(min_length=1, max_length=64)]


@router.get("/push", response_class=PlainTextResponse, summary="WeChat message push: URL verification")
def verify_push(
    request: Request, signature: Sig, timestamp: Stamp, nonce: Nonce, echostr: Annotated[str, Query(max_length=128)]
) -> str:
    _check(request, signature, timestamp, nonce)
    return echostr


@router.post("/push", response_class=PlainTextResponse, summary="WeChat message push: a shopper's message")
async def receive_push(request: Request, signature: Sig, timestamp: Stamp, nonce: Nonce) -> str:
    _check(request, signature, timestamp, nonce)
    raw = await request.body()
    message = parse_push(raw)
    if message is None:
        raise HTTPException(status_code=400, detail="body is neither a JSON nor an XML WeChat message")
    inbound = to_inbound(message)
    if inbound is None:  # an event (e.g. user_enter_tempsession): nothing to answer
        return "success"
    gateway = request.app.state.gateway
    try:
        response = await gateway.handle(inbound)
    except RateLimited:
        return "success"  # the shopper is over the message limit; WeChat must not retry it
    writer: OutboxWriter = request.app.state.outbox_writer

    def enqueue() -> None:
        try:
            with session_scope(gateway.sessions) as session:
                conv = session.get(Conversation, response.conversation_id)
                if conv is not None and response.replies:
                    writer.notify(session, conv, "reply", response.replies)
        except IntegrityError:  # WeChat re-sent a push whose replies are queued already
            pass

    from starlette.concurrency import run_in_threadpool

    await run_in_threadpool(enqueue)
    worker = getattr(request.app.state, "outbound_worker", None)
    if worker is not None:
        worker.wake()
    return "success"


def parse_push(raw: bytes) -> dict[str, Any] | None:
    text = raw.decode("utf-8", errors="replace").strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None
    if text.startswith("<"):
        try:
            root = ElementTree.fromstring(text)
        except ElementTree.ParseError:
            return None
        return {child.tag: (child.text or "") for child in root}
    return None


def to_inbound(message: dict[str, Any]) -> InboundMessage | None:
    kind = str(message.get("MsgType", ""))
    openid = str(message.get("FromUserName", ""))
    if kind == "event" or not openid:
        return None
    text = str(message.get("Content", "")) if kind == "text" else MEDIA_TEXT.get(kind, f"[{kind}]")
    if kind == "miniprogrampage" and message.get("Title"):
        text = f"{text} {message['Title']}"
    msg_id = message.get("MsgId")
    try:
        return InboundMessage(
            channel="miniprogram",
            customer_id=openid,
            text=text[:2000],
            client_msg_id=f"wx{msg_id}" if msg_id else None,
        )
    except ValidationError as exc:
        raise HTTPException(status_code=422, detail="; ".join(str(e.get("msg")) for e in exc.errors())) from exc
