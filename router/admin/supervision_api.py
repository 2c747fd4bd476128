"""Supervisor view of the agents for the dashboard: status, skills, capacity and current load of every agent."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from router.api.deps import EngineDep
from router.auth import CurrentSupervisor

router = APIRouter(prefix="/api/v1/admin", tags=["supervision"])


class AgentLoad(BaseModel):
    id: int
    name: str
    status: str
    skills: dict[str, int]
    capacity: dict[str, int]
    load: dict[str, int]
    conversations: int
    pending_offers: int


@router.get("/agents", response_model=list[AgentLoad], summary="Every agent's status and current load (supervisors)")
def agents_load(user: CurrentSupervisor, engine: EngineDep) -> list[AgentLoad]:
    rows = []
    for agent in sorted(engine.agents_snapshot(), key=lambda a: (a.status.value != "online", a.name)):
        rows.append(AgentLoad(
            id=agent.id, name=agent.name, status=agent.status.value, skills=dict(agent.skills),
            capacity=dict(agent.capacity), load={k: v for k, v in agent.load.items() if v},
            conversations=len(engine.conversations_for(agent.id)), pending_offers=len(engine.offers_for(agent.id)),
        ))
    return rows
