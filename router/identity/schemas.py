"""Wire models of the shopper endpoints that carry identity (the gateway's internal ``InboundMessage`` has none)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from router.gateway.schemas import MAX_TEXT_CHARS, Channel, MessageResponse

CUSTOMER_ID = r"^[A-Za-z0-9_.:@\-]+$"
HASH = r"^[0-9a-fA-F]{64}$"


class MessageIn(BaseModel):
    """``POST /api/v1/messages``. Web: no credentials (a new visitor), ``Authorization: Bearer <visitor_token>``, or
    ``customer_id`` + ``identity_hash`` from the shop's server. App / mini-program: ``X-Kefu-Channel-Key`` and the
    ``customer_id`` the shop's backend vouches for."""

    model_config = ConfigDict(extra="forbid")

    channel: Channel
    customer_id: str | None = Field(default=None, min_length=1, max_length=128, pattern=CUSTOMER_ID)
    identity_hash: str | None = Field(default=None, pattern=HASH, description="hex HMAC-SHA256(secret, customer_id)")
    text: str = Field(max_length=MAX_TEXT_CHARS)
    client_msg_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")
    metadata: dict[str, Any] = Field(default_factory=dict)


class WebMessage(BaseModel):
    """``POST /api/v1/channels/web/messages`` (the widget's REST fallback)."""

    model_config = ConfigDict(extra="forbid")
    customer_id: str | None = Field(default=None, min_length=1, max_length=128, pattern=CUSTOMER_ID)
    identity_hash: str | None = Field(default=None, pattern=HASH)
    text: str = Field(max_length=MAX_TEXT_CHARS)
    client_msg_id: str | None = Field(default=None, max_length=64)


class ShopperMessageResponse(MessageResponse):
    """The gateway's answer plus who the shopper is; ``visitor_token`` only when a new one was issued."""

    customer_id: str | None = None
    verified: bool | None = None
    visitor_token: str | None = None
    token_expires_in: int | None = None


class SessionIn(BaseModel):
    """``POST /api/v1/channels/web/session``: a logged-in shopper's token before the first message."""

    model_config = ConfigDict(extra="forbid")
    customer_id: str = Field(min_length=1, max_length=128, pattern=CUSTOMER_ID)
    identity_hash: str = Field(pattern=HASH)


class SessionOut(BaseModel):
    customer_id: str
    verified: bool
    visitor_token: str | None = None
    token_expires_in: int
