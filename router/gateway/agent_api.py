"""Agent-side endpoints the gateway owns: replying to the shopper and the context panel of a conversation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from router.auth import CurrentAgent, get_settings_from_app
from router.gateway.deps import ContextDep, GatewayDep
from router.gateway.schemas import MAX_TEXT_CHARS, Reply
from router.identity.pii import mask_context
from router.settings import Settings

router = APIRouter(prefix="/api/v1/agents", tags=["agents"])


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
    """404 for an unknown conversation, 409 when it is not (or no longer) the caller's (router/gateway/errors.py)."""
    return await gateway.agent_message(conversation_id=conversation_id, agent_id=agent.id, text=body.text)


@router.get("/conversations/{conversation_id}/context", summary="Transcript, sentiment, NLU, order and FAQ ideas")
async def context(
    conversation_id: str, agent: CurrentAgent, gateway: GatewayDep, builder: ContextDep,
    settings: Annotated[Settings, Depends(get_settings_from_app)],
) -> dict[str, Any]:
    """404 for an unknown conversation, 403 for an agent when another agent serves it."""
    fields, transcript = await run_in_threadpool(
        lambda: builder.load_for_agent(gateway.sessions, conversation_id=conversation_id, agent_id=agent.id,
                                       role=agent.role)
    )
    # unmasked: POST .../reveal (audited); the secret keys the order's personal_ref
    return mask_context(await builder.build(fields, transcript), secret=settings.secret_key)
