"""Live monitoring API for supervisors (``/api/v1/supervision``): live list, read-only transcript, whisper,
barge-in and re-route; every action is audited."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from router.api.deps import EngineDep, HubDep, SessionsDep, SettingsDep
from router.auth import CurrentSupervisor
from router.supervision.live import (
    LiveConversation,
    RerouteIn,
    TranscriptLine,
    WhisperIn,
    barge_in,
    live_conversations,
    reroute,
    transcript,
    whisper,
)

router = APIRouter(prefix="/api/v1/supervision", tags=["supervision"])


@router.get("/live", response_model=list[LiveConversation],
            summary="Every live conversation with owner, wait, sentiment and SLA (breached first)")
def live(user: CurrentSupervisor, sessions: SessionsDep, engine: EngineDep,
         settings: SettingsDep) -> list[LiveConversation]:
    return live_conversations(sessions=sessions, engine=engine, queue_sla_s=settings.service_level_s,
                              reply_sla_s=settings.supervision_reply_sla_s)


@router.get("/conversations/{conversation_id}/transcript", response_model=list[TranscriptLine],
            summary="Messages and whispers of a conversation (read-only)")
def read_transcript(conversation_id: str, user: CurrentSupervisor, sessions: SessionsDep) -> list[TranscriptLine]:
    return transcript(sessions=sessions, conversation_id=conversation_id)


@router.post("/conversations/{conversation_id}/whisper", summary="A note only the agent sees (never the shopper)")
async def send_whisper(conversation_id: str, body: WhisperIn, user: CurrentSupervisor, sessions: SessionsDep,
                       engine: EngineDep, hub: HubDep) -> dict[str, Any]:
    event = await run_in_threadpool(lambda: whisper(
        sessions=sessions, engine=engine, supervisor_id=user.id, supervisor_name=user.display_name,
        conversation_id=conversation_id, text=body.text))
    await hub.send_to_agent(int(event["agent_id"]), event)
    return event


@router.post("/conversations/{conversation_id}/barge-in",
             summary="Take the conversation over (the supervisor must be online in the agent console)")
def take_over(conversation_id: str, user: CurrentSupervisor, sessions: SessionsDep,
              engine: EngineDep) -> dict[str, Any]:
    previous = barge_in(sessions=sessions, engine=engine, supervisor_id=user.id, conversation_id=conversation_id)
    return {"conversation_id": conversation_id, "agent_id": user.id, "previous_agent_id": previous}


@router.post("/conversations/{conversation_id}/reroute",
             summary="Transfer an agent's conversation to a skill or agent, or withdraw a pending offer")
def move(conversation_id: str, body: RerouteIn, user: CurrentSupervisor, sessions: SessionsDep,
         engine: EngineDep) -> dict[str, Any]:
    done = reroute(sessions=sessions, engine=engine, supervisor_id=user.id, conversation_id=conversation_id,
                   body=body)
    return {"conversation_id": conversation_id, "done": done}
