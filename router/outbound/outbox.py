"""Writing the outbox: called by the gateway inside the transaction that stores the message to the shopper, so a
delivery exists exactly when the message does (a rollback drops both)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from router.clock import utcnow
from router.conversations.models import Conversation, CustomerIdentity
from router.gateway.schemas import Reply
from router.outbound.models import OutboundEndpoint, OutboundMessage

MESSAGE_EVENTS = {"agent_message", "agent_joined", "agent_transferred", "agent_left", "survey", "ticket_reply", "reply"}


def new_key() -> str:
    return uuid.uuid4().hex


class OutboxWriter:
    """The gateway's ``OutboundSink``: one outbox row per message (or event) for app and mini-program shoppers.

    App shoppers get a row only while the shop has a callback registered for the channel (a client without one
    polls ``/api/v1/conversations/{id}/messages``); mini-program shoppers only when the WeChat adapter is configured.
    Web shoppers get nothing here: their WebSocket push and the polling endpoints serve them.
    """

    def __init__(self, *, wechat_enabled: bool) -> None:
        self.wechat_enabled = wechat_enabled

    def notify(
        self,
        session: Session,
        conv: Conversation,
        event: str,
        replies: list[Reply] | None = None,
        data: dict[str, Any] | None = None,
    ) -> list[OutboundMessage]:
        target = self._target(session, conv)
        if target is None:
            return []
        transport, endpoint_id, address = target
        if transport == "wechat" and not replies:  # WeChat carries texts only; events (queue, closed) stay local
            return []
        rows = []
        for reply in replies or [None]:  # type: ignore[list-item]
            rows.append(
                OutboundMessage(
                    key=new_key(),
                    conversation_id=conv.id,
                    customer_id=conv.customer_id,
                    channel=conv.channel,
                    transport=transport,
                    endpoint_id=endpoint_id,
                    event=event,
                    message_id=reply.id if reply is not None else None,
                    payload=build_payload(conv, event, reply, data or {}, address),
                    next_attempt_at=utcnow(),
                )
            )
        session.add_all(rows)
        session.flush()
        return rows

    def _target(self, session: Session, conv: Conversation) -> tuple[str, int | None, str] | None:
        if conv.channel == "app":
            endpoint = session.scalar(select(OutboundEndpoint).where(OutboundEndpoint.channel == "app"))
            if endpoint is None:
                return None
            return "webhook", endpoint.id, conv.customer_id
        if conv.channel == "miniprogram" and self.wechat_enabled:
            return "wechat", None, openid_of(session, conv.customer_id)
        return None


def openid_of(session: Session, customer_id: str) -> str:
    """The mini-program openid of a customer (customers first seen there are ``mp:<openid>``)."""
    row = session.scalar(
        select(CustomerIdentity.external_id)
        .where(CustomerIdentity.channel == "miniprogram", CustomerIdentity.customer_id == customer_id)
        .order_by(CustomerIdentity.id.desc())
    )
    if row is not None:
        return str(row)
    return customer_id.removeprefix("mp:")


def build_payload(
    conv: Conversation, event: str, reply: Reply | None, data: dict[str, Any], address: str
) -> dict[str, Any]:
    """The JSON body a shop receives (``id`` is filled in with the idempotency key when sent)."""
    kind = "message" if reply is not None else ("queue" if event == "queue_update" else "conversation")
    body: dict[str, Any] = {
        "type": kind,
        "event": event,
        "conversation_id": conv.id,
        "customer_id": conv.customer_id,
        "channel": conv.channel,
        "to": address,
        "created_at": utcnow().isoformat(),
    }
    if reply is not None:
        body["message"] = reply.model_dump()
    if data:
        body["data"] = data
    return body
