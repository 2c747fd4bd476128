"""Dependency aliases shared by the API routers (objects live on ``app.state``, built in the lifespan)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from router.hub import AgentHub
from router.routing.protocol import RoutingEngineProtocol
from router.settings import Settings


def get_engine(request: Request) -> RoutingEngineProtocol:
    engine: RoutingEngineProtocol = request.app.state.engine
    return engine


def get_hub(request: Request) -> AgentHub:
    hub: AgentHub = request.app.state.hub
    return hub


def get_sessions(request: Request) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


EngineDep = Annotated[RoutingEngineProtocol, Depends(get_engine)]
HubDep = Annotated[AgentHub, Depends(get_hub)]
SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
