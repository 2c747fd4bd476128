"""Typed wire payloads of the agent and routing APIs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from router.identity.pii import mask_text
from router.routing.models import AgentState, AgentStatus, ItemState, Offer, WorkItem

Skill = Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    role: str


class AgentOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    status: AgentStatus | None = None
    skills: dict[str, int] = {}
    languages: list[str] = []
    capacity: dict[str, int] = {}
    # accepted conversations per channel (what capacity is about); pending offers are counted apart in ``offers``
    # (each one reserves a place while it is pending, so an agent is never offered more than she could accept)
    load: dict[str, int] = {}
    offers: dict[str, int] = {}
    # whether a console connection is open (router/presence.py); ``available``: online and connected (gets offers)
    connected: bool | None = None
    available: bool | None = None


class StatusIn(BaseModel):
    """The agent's chosen status.  It takes effect for routing only while a console connection is open; an API
    client without a console declares ``connection: "api"``, which counts as a connection until the token's lifetime
    ends or the agent goes offline."""

    model_config = ConfigDict(extra="forbid")
    status: AgentStatus
    connection: Literal["api"] | None = None


class AgentOffer(BaseModel):
    """An offer (reservation) of a conversation to an agent."""

    id: str
    conversation_id: str
    state: str
    created_at: float
    deadline: float
    skill: str | None = None
    priority: int | None = None
    customer_id: str | None = None
    note: str | None = None
    reason: str | None = None
    # what the offer card shows: where the shopper writes from, how long she has waited (at the offer), VIP, her
    # mood and her last substantive message (personal data masked), as the gateway recorded them at the hand-off
    channel: str | None = None
    enqueued_at: float | None = None
    waited_s: float | None = None
    vip: bool | None = None
    mood: str | None = None
    last_message: str | None = None

    @classmethod
    def of(cls, offer: Offer, item: WorkItem | None) -> AgentOffer:
        context = item.context if item else {}
        return cls(
            id=offer.id,
            conversation_id=offer.conversation_id,
            state=offer.state.value,
            created_at=offer.created_at,
            deadline=offer.deadline,
            skill=item.skill if item else None,
            priority=item.priority if item else None,
            customer_id=item.customer_id if item else None,
            note=item.note if item else None,
            reason=item.reason if item else None,
            channel=context.get("channel") or (item.channel if item else None),
            enqueued_at=item.enqueued_at if item else None,
            waited_s=round(offer.created_at - item.enqueued_at, 3) if item else None,
            vip=context.get("vip"),
            mood=context.get("mood"),
            last_message=mask_text(context["last_message"]) if context.get("last_message") else None,
        )


class ConversationOut(BaseModel):
    conversation_id: str
    customer_id: str
    channel: str
    skill: str
    priority: int
    state: ItemState
    enqueued_at: float
    reason: str
    note: str | None = None
    agent_id: int | None = None
    context: dict[str, Any] = {}

    @classmethod
    def of(cls, item: WorkItem) -> ConversationOut:
        return cls(
            conversation_id=item.conversation_id,
            customer_id=item.customer_id,
            channel=item.channel,
            skill=item.skill,
            priority=item.priority,
            state=item.state,
            enqueued_at=item.enqueued_at,
            reason=item.reason,
            note=item.note,
            agent_id=item.agent_id,
            context=item.context,
        )


class TransferIn(BaseModel):
    """Transfer to a named agent or to the queue of a skill (exactly one), with a note for the next agent."""

    model_config = ConfigDict(extra="forbid")
    to_agent_id: int | None = Field(default=None, ge=1)
    to_skill: str | None = Skill
    note: str | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _one_target(self) -> TransferIn:
        if (self.to_agent_id is None) == (self.to_skill is None):
            raise ValueError("give exactly one of to_agent_id and to_skill")
        return self


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Literal["resolved", "unresolved", "spam", "other"] = "resolved"


class HandoffIn(BaseModel):
    """Queue a conversation for a human (what the gateway does in-process; exposed for tools and tests)."""

    model_config = ConfigDict(extra="forbid")
    conversation_id: str = Field(min_length=1, max_length=64)
    customer_id: str = Field(min_length=1, max_length=64)
    skill: str = Skill
    priority: int = Field(default=0, ge=0, le=10)
    channel: str = Field(default="chat", min_length=1, max_length=16)
    language: str = Field(default="zh", min_length=2, max_length=8)
    reason: str = Field(default="request_human", max_length=32)
    note: str | None = Field(default=None, max_length=1000)


class QueueStatusOut(BaseModel):
    conversation_id: str
    state: ItemState
    position: int
    eta_s: float | None
    agents_online: int


def agent_out(agent: AgentState, *, username: str, role: str, offered: dict[str, int] | None = None) -> AgentOut:
    """``offered``: the agent's pending offers per channel (the engine's ``load`` counts them as well)."""
    offered = offered or {}
    accepted = {k: v - offered.get(k, 0) for k, v in agent.load.items()}
    return AgentOut(
        id=agent.id,
        username=username,
        display_name=agent.name,
        role=role,
        status=agent.status,
        skills=agent.skills,
        languages=sorted(agent.languages),
        capacity=agent.capacity,
        load={k: v for k, v in accepted.items() if v > 0},
        offers={k: v for k, v in offered.items() if v},
        connected=agent.connected,
        available=agent.available,
    )
