"""Wire models of the public gateway API (one message model for every channel)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Channel = Literal["web", "app", "miniprogram"]
Owner = Literal["bot", "queue", "agent"]
MAX_TEXT_CHARS = 2000


class Button(BaseModel):
    title: str
    payload: str


class Reply(BaseModel):
    """One message to the shopper (the WebSocket pushes the same objects)."""

    id: int | None = None
    text: str
    buttons: list[Button] = Field(default_factory=list)
    sender: Literal["bot", "agent", "system"] = "bot"
    created_at: str | None = None


class QueueInfo(BaseModel):
    position: int
    eta_s: float | None


class InboundMessage(BaseModel):
    """``POST /api/v1/messages``: a shopper's message from any channel."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    channel: Channel
    customer_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@\-]+$")
    text: str = Field(max_length=MAX_TEXT_CHARS)
    client_msg_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        cleaned = "".join(ch for ch in value if ch in "\n\t" or ch.isprintable())
        if not cleaned.strip():
            raise ValueError("text must contain at least one visible character")
        return cleaned.strip()


class MessageResponse(BaseModel):
    conversation_id: str
    owner: Owner
    replies: list[Reply]
    queue: QueueInfo | None = None
    message_id: int | None = None
    sentiment: dict[str, Any] | None = None


class HistoryMessage(BaseModel):
    id: int
    conversation_id: str
    direction: Literal["in", "out"]
    sender: str
    channel: str
    text: str
    buttons: list[Button] = Field(default_factory=list)
    sentiment_label: str | None = None
    sentiment_score: float | None = None
    created_at: str


class SurveyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=1000)
