"""Dependency aliases shared by the API routers: each reads the app's :class:`router.services.Services`, built once in
the lifespan (``app.state.services``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from prometheus_client.registry import CollectorRegistry
from sqlalchemy.orm import Session, sessionmaker

from router.alerts.service import AlertService
from router.canned.service import CannedService
from router.hub import AgentHub
from router.learning.service import LearningService
from router.presence import PresenceTracker
from router.routing.protocol import RoutingEngineProtocol
from router.services import Services
from router.settings import Settings
from router.tickets.service import TicketService


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_engine(services: ServicesDep) -> RoutingEngineProtocol:
    return services.engine


def get_hub(services: ServicesDep) -> AgentHub:
    return services.hub


def get_sessions(services: ServicesDep) -> sessionmaker[Session]:
    return services.sessions


def get_app_settings(services: ServicesDep) -> Settings:
    return services.settings


def get_presence(services: ServicesDep) -> PresenceTracker:
    return services.presence


def get_tickets(services: ServicesDep) -> TicketService:
    return services.tickets


def get_alerts(services: ServicesDep) -> AlertService:
    return services.alerts


def get_learning(services: ServicesDep) -> LearningService:
    return services.learning


def get_canned(services: ServicesDep) -> CannedService:
    return services.canned


def get_metrics(services: ServicesDep) -> CollectorRegistry:
    return services.metrics


EngineDep = Annotated[RoutingEngineProtocol, Depends(get_engine)]
HubDep = Annotated[AgentHub, Depends(get_hub)]
SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
PresenceDep = Annotated[PresenceTracker, Depends(get_presence)]
TicketsDep = Annotated[TicketService, Depends(get_tickets)]
AlertsDep = Annotated[AlertService, Depends(get_alerts)]
LearningDep = Annotated[LearningService, Depends(get_learning)]
CannedDep = Annotated[CannedService, Depends(get_canned)]
MetricsDep = Annotated[CollectorRegistry, Depends(get_metrics)]
