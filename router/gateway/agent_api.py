"""Agent-side endpoints the gateway owns: replying to the shopper and the context panel of a conversation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from router.auth import CurrentAgent
from router.conversations.models import Conversation
from router.db import session_scope
from router.gateway.context import ContextBuilder
from router.gateway.schemas import MAX_TEXT_CHARS, Reply
from router.gateway.service import ConversationNotFound, GatewayService, NotConversationOwner
from router.identity.pii import mask_context

router = APIRouter(prefix="/api/v1/agents", tags=["agents"])


def get_gateway(request: Request) -> GatewayService:
    gateway: GatewayService = request.app.state.gateway
    return gateway


def get_context_builder(request: Request) -> ContextBuilder:
    builder: ContextBuilder = request.app.state.context_builder
    return builder


GatewayDep = Annotated[GatewayService, Depends(get_gateway)]
ContextDep = Annotated[ContextBuilder, Depends(get_context_builder)]


class AgentReply(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=MAX_TEXT_CHARS)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text must not be empty")
        return value.strip()


@router.post("/conversations/{conversation_id}/messages", response_model=Reply, summary="Reply to the shopper")
async def send_message(conversation_id: str, body: AgentReply, agent: CurrentAgent, gateway: GatewayDep) -> Reply:
    try:
        return await gateway.agent_message(conversation_id=conversation_id, agent_id=agent.id, text=body.text)
    except ConversationNotFound as exc:
        raise HTTPException(status_code=404, detail="conversation not found") from exc
    except NotConversationOwner as exc:
        raise HTTPException(status_code=409, detail="this conversation is not assigned to you") from exc


@router.get("/conversations/{conversation_id}/context", summary="Transcript, sentiment, NLU, order and FAQ ideas")
async def context(
    conversation_id: str, agent: CurrentAgent, gateway: GatewayDep, builder: ContextDep
) -> dict[str, Any]:

    def load() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        with session_scope(gateway.sessions) as session:
            conv = session.get(Conversation, conversation_id)
            if conv is None:
                raise HTTPException(status_code=404, detail="conversation not found")
            if agent.role == "agent" and conv.agent_id not in (None, agent.id):
                raise HTTPException(status_code=403, detail="this conversation is assigned to another agent")
            return builder.load(session, conv)

    fields, transcript = await run_in_threadpool(load)
    return mask_context(await builder.build(fields, transcript))  # unmasked: POST .../reveal (audited)
