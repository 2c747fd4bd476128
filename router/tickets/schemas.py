"""Wire models of the tickets API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from router.gateway.schemas import MAX_TEXT_CHARS

TicketStatus = Literal["new", "assigned", "waiting_customer", "resolved", "closed"]
TicketSource = Literal["leave_message", "unresolved", "agent"]
Category = Literal["after_sales", "logistics", "billing", "product", "vip", "general"]


class SlaOut(BaseModel):
    first_response_due_at: datetime
    resolution_due_at: datetime
    first_response_remaining_s: float | None = Field(
        description="seconds left; negative when overdue; null once answered"
    )
    resolution_remaining_s: float | None = Field(description="seconds left; frozen while waiting on the customer")
    first_response_breached: bool
    resolution_breached: bool
    paused: bool
    at_risk: bool = Field(
        default=False, description="open and breached, or a timer ends within the hour (the console's 'SLA at risk')"
    )


class TicketOut(BaseModel):
    id: int
    ref: str
    source: str
    status: TicketStatus
    subject: str
    description: str
    category: str
    topic: str | None
    priority: int
    vip: bool
    conversation_id: str | None
    customer_id: str | None
    channel: str | None
    assignee_id: int | None
    created_by: int | None
    created_at: datetime
    updated_at: datetime
    first_responded_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    sla: SlaOut


class TicketEventOut(BaseModel):
    id: int
    type: str
    actor_id: int | None
    data: dict[str, Any]
    created_at: datetime


class TicketDetail(TicketOut):
    history: list[TicketEventOut]


class TicketPage(BaseModel):
    items: list[TicketOut]
    total: int
    limit: int
    offset: int


class TicketCreate(BaseModel):
    """An agent opens a ticket (e.g. a follow-up promised in chat)."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=2, max_length=200)
    description: str = Field(default="", max_length=5000)
    conversation_id: str | None = Field(default=None, max_length=32)
    customer_id: str | None = Field(default=None, max_length=128)
    channel: Literal["web", "app", "miniprogram"] | None = None
    category: Category | None = Field(default=None, description="derived from the text / conversation when omitted")
    priority: int | None = Field(default=None, ge=0, le=10, description="derived when omitted")
    assign: Literal["auto", "me", "none"] = "auto"


class TicketPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: TicketStatus | None = None
    priority: int | None = Field(default=None, ge=0, le=10)
    category: Category | None = None
    assignee_id: int | None = Field(default=None, description="an agent id; use /assign for routing")
    note: str | None = Field(default=None, max_length=1000, description="why (kept in the history)")


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(
        min_length=1,
        max_length=5000,
        description=f"not blank; a public reply reaches the shopper and holds at most {MAX_TEXT_CHARS} characters",
    )
    public: bool = Field(default=True, description="a reply to the customer (counts as first response) or internal")

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the reply is empty")
        return value.strip()

    @model_validator(mode="after")
    def _fits_a_chat_message(self) -> CommentIn:
        if self.public and len(self.text) > MAX_TEXT_CHARS:
            raise ValueError(f"a public reply reaches the shopper as a chat message: at most {MAX_TEXT_CHARS} chars")
        return self


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: int | None = Field(default=None, description="omit to let the skill router choose")
    skill: Category | None = Field(
        default=None, description="hand the ticket to this skill group (its category changes; the router picks)"
    )

    @model_validator(mode="after")
    def _one_target(self) -> AssignIn:
        if self.agent_id is not None and self.skill is not None:
            raise ValueError("give an agent or a skill group, not both")
        return self


class TranscriptLine(BaseModel):
    id: int
    sender: str = Field(description="customer | bot | agent | system")
    text: str = Field(description="phone numbers and street addresses masked")
    agent_id: int | None
    created_at: datetime


class TicketConversation(BaseModel):
    conversation_id: str
    masked: bool = True
    transcript: list[TranscriptLine]


class SlaPolicyOut(BaseModel):
    urgent_priority: int
    targets: dict[str, dict[str, float]]
