"""The one composition root of the router app: every service it runs, built once in the lifespan.

``router.app.create_app``'s lifespan calls :func:`build_services` once the database, the routing engine, the agent
hub and presence exist, and stores the result on ``app.state.services``; the API modules read it through the
``Annotated`` dependencies of :mod:`router.api.deps`.  Nothing here is built on a first request, nothing is patched
after construction: a test that needs another knowledge base passes it to ``create_app(kb=...)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client.registry import CollectorRegistry
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from router.admin.faq_service import FaqAdmin, make_faq_admin
from router.alerts.detector import DetectorConfig
from router.alerts.service import AlertService, WebhookSender
from router.canned.service import CannedService
from router.hub import AgentHub
from router.learning.service import LearningConfig, LearningService
from router.presence import PresenceMonitor, PresenceTracker
from router.reports.metrics import build_registry
from router.routing.protocol import RoutingEngineProtocol
from router.settings import Settings
from router.singleton import JobLocks
from router.tickets.assign import SkillAssigner, engine_directory
from router.tickets.service import TicketService
from router.tickets.sla import SlaPolicy

if TYPE_CHECKING:
    from knowledge_base.service import KnowledgeBase

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    """What one router app runs on (``app.state.services``)."""

    settings: Settings
    db_engine: Engine
    sessions: sessionmaker[Session]
    engine: RoutingEngineProtocol  # the routing engine (a ``ClusteredEngine`` with Redis)
    hub: AgentHub
    presence: PresenceTracker
    presence_monitor: PresenceMonitor
    job_locks: JobLocks
    tickets: TicketService
    alerts: AlertService
    learning: LearningService
    canned: CannedService
    metrics: CollectorRegistry
    faq_admin: FaqAdmin | None  # None: the process-wide admin of ``router.admin.faq_api`` (the KB loads on demand)
    kb: KnowledgeBase | None  # None: the process-wide knowledge base, loaded when first asked


def build_services(
    settings: Settings,
    *,
    db_engine: Engine,
    sessions: sessionmaker[Session],
    engine: RoutingEngineProtocol,
    hub: AgentHub,
    presence: PresenceTracker,
    presence_monitor: PresenceMonitor,
    kb: KnowledgeBase | None = None,
    faq_admin: FaqAdmin | None = None,
) -> Services:
    """Build the domain services over the app's database, routing engine and hub (constructors only, no I/O; the
    knowledge base, when not given, is the process-wide one, loaded by the first question that needs it)."""
    if faq_admin is None and kb is not None:
        faq_admin = make_faq_admin(kb)
    knowledge = _kb_provider(kb)
    return Services(
        settings=settings,
        db_engine=db_engine,
        sessions=sessions,
        engine=engine,
        hub=hub,
        presence=presence,
        presence_monitor=presence_monitor,
        job_locks=JobLocks(db_engine),
        tickets=TicketService(
            session_factory=sessions,
            sla=SlaPolicy.from_settings(settings),
            assigner=SkillAssigner(engine_directory(engine)),
            topic_lookup=kb_topic_lookup(knowledge) if kb is not None else None,
        ),
        alerts=AlertService(
            session_factory=sessions,
            config=DetectorConfig.from_settings(settings),
            webhook=webhook_from_settings(settings),
            cooldown_s=settings.alert_cooldown_s,
        ),
        learning=LearningService(
            session_factory=sessions, kb=knowledge, config=LearningConfig.from_settings(settings)
        ),
        canned=CannedService(sessions),
        metrics=build_registry(
            sessions, window_s=settings.metrics_window_s, service_level_s=settings.service_level_s
        ),
        faq_admin=faq_admin,
        kb=kb,
    )


def kb_topic_lookup(kb: Callable[[], KnowledgeBase]) -> Callable[[str], tuple[str, str] | None]:
    """Ticket topics from the FAQ knowledge base when it answers confidently (keywords are the fallback)."""

    def lookup(text: str) -> tuple[str, str] | None:
        try:
            answer = kb().ask(text)
        except Exception:  # the knowledge base is optional for tickets; classification falls back to keywords
            log.debug("knowledge base unavailable for ticket classification", exc_info=True)
            return None
        if answer.decision == "answer" and answer.hit is not None:
            return answer.hit.id, answer.hit.category
        return None

    return lookup


def webhook_from_settings(settings: Settings) -> WebhookSender | None:
    if not settings.alert_webhook_url:
        return None
    return WebhookSender(settings.alert_webhook_url, timeout_s=settings.alert_webhook_timeout_s)


def _kb_provider(kb: KnowledgeBase | None) -> Callable[[], KnowledgeBase]:
    """The app's knowledge base, or the process-wide one (the encoder and index are loaded when first asked)."""

    def provide() -> KnowledgeBase:
        if kb is not None:
            return kb
        from knowledge_base import get_knowledge_base

        return get_knowledge_base()

    return provide
