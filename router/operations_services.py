"""The operations services of an app (tickets, alerts, learning, job locks), built once and kept on ``app.state``.

The operations API modules (``router.tickets.api``, ``router.alerts.api``, ``router.learning.api``) and the gateway's
wiring read their service from here; :mod:`router.operations` mounts those API modules and starts the background
work. Keeping the accessors apart from the mounting is what keeps the modules free of an import cycle (the import
contracts in pyproject.toml check it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi import FastAPI

from router.alerts.detector import DetectorConfig
from router.alerts.service import AlertService, WebhookSender
from router.learning.service import LearningConfig, LearningService
from router.settings import Settings
from router.singleton import JobLocks
from router.tickets.assign import SkillAssigner, engine_directory
from router.tickets.service import TicketService
from router.tickets.sla import SlaPolicy

if TYPE_CHECKING:
    from knowledge_base.service import KnowledgeBase

log = logging.getLogger(__name__)


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


def _kb_provider(app: FastAPI) -> Callable[[], KnowledgeBase]:
    def provide() -> KnowledgeBase:
        kb = getattr(app.state, "kb", None)
        if kb is not None:
            return kb
        from knowledge_base import get_knowledge_base

        return get_knowledge_base()

    return provide


def ticket_service_for_app(app: FastAPI) -> TicketService:
    """The app's ticket service (created once; the gateway's ``TicketSink``)."""
    existing = getattr(app.state, "tickets", None)
    settings: Settings = app.state.settings
    if isinstance(existing, TicketService):
        if existing.assigner is None:  # built bare elsewhere: route through the engine, SLA from the settings
            existing.assigner = SkillAssigner(engine_directory(app.state.engine))
            existing.sla = SlaPolicy.from_settings(settings)
        return existing
    service = TicketService(
        session_factory=app.state.sessions,
        sla=SlaPolicy.from_settings(settings),
        assigner=SkillAssigner(engine_directory(app.state.engine)),
        topic_lookup=kb_topic_lookup(_kb_provider(app)) if getattr(app.state, "kb", None) is not None else None,
    )
    app.state.tickets = service
    return service


def webhook_from_settings(settings: Settings) -> WebhookSender | None:
    if not settings.alert_webhook_url:
        return None
    return WebhookSender(settings.alert_webhook_url, timeout_s=settings.alert_webhook_timeout_s)


def alert_service_for_app(app: FastAPI) -> AlertService:
    existing = getattr(app.state, "alerts", None)
    if isinstance(existing, AlertService):
        return existing
    settings: Settings = app.state.settings
    service = AlertService(
        session_factory=app.state.sessions,
        config=DetectorConfig.from_settings(settings),
        webhook=webhook_from_settings(settings),
        cooldown_s=settings.alert_cooldown_s,
    )
    app.state.alerts = service
    return service


def learning_service_for_app(app: FastAPI) -> LearningService:
    existing = getattr(app.state, "learning", None)
    if isinstance(existing, LearningService):
        return existing
    settings: Settings = app.state.settings
    service = LearningService(
        session_factory=app.state.sessions, kb=_kb_provider(app), config=LearningConfig.from_settings(settings)
    )
    app.state.learning = service
    return service


def job_locks_for_app(app: FastAPI) -> JobLocks:
    existing = getattr(app.state, "job_locks", None)
    if isinstance(existing, JobLocks):
        return existing
    app.state.job_locks = JobLocks(app.state.db_engine)
    return app.state.job_locks
