"""Wiring of the operations side (tickets, KPIs and /metrics, learning loop, risk alerts) into the router app.

``router.api.ROUTERS`` mounts :data:`ROUTERS`; the first of them carries a lifespan that FastAPI merges into the
app's, so once the app has its sessions (and the gateway its ticket sink, :func:`ticket_service_for_app`), the
services are built and the background work starts: SLA breach sweeps, tickets for unresolved conversations, alert
evaluation and a periodic learning refresh (``KEFU_ROUTER_OPERATIONS_BACKGROUND=false`` turns them off).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI
from starlette.concurrency import run_in_threadpool

from router.alerts.api import router as alerts_router
from router.alerts.detector import DetectorConfig
from router.alerts.service import AlertService, WebhookSender
from router.learning.api import router as learning_router
from router.learning.service import LearningConfig, LearningService
from router.reports.api import router as reports_router
from router.settings import Settings
from router.singleton import JobLocks
from router.tasks import TaskSet
from router.tickets.api import router as tickets_router
from router.tickets.assign import SkillAssigner, engine_directory
from router.tickets.service import TicketService
from router.tickets.sla import SlaPolicy

if TYPE_CHECKING:
    from knowledge_base.service import KnowledgeBase

log = logging.getLogger(__name__)
LEARNING_REFRESH_S = 900.0


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


async def _every(interval_s: float, name: str, work: Callable[[], Any], locks: JobLocks) -> None:
    """Run ``work`` every ``interval_s`` on whichever replica holds the job's lock at that moment."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await run_in_threadpool(locks.run, name, work)
        except Exception:  # a failed sweep is retried next interval; it must not end the loop
            log.exception("%s failed; retrying in %.0f s", name, interval_s)


def job_locks_for_app(app: FastAPI) -> JobLocks:
    existing = getattr(app.state, "job_locks", None)
    if isinstance(existing, JobLocks):
        return existing
    app.state.job_locks = JobLocks(app.state.db_engine)
    return app.state.job_locks


async def install_operations(
    app: FastAPI, settings: Settings | None = None, *, background: bool = True
) -> Callable[[], Awaitable[None]]:
    """Build tickets, alerts and learning on ``app.state``; start their background loops; return the teardown."""
    settings = settings or app.state.settings
    tickets = ticket_service_for_app(app)
    alerts = alert_service_for_app(app)
    learning = learning_service_for_app(app)
    loop = asyncio.get_running_loop()
    hub = getattr(app.state, "hub", None)
    pushes = TaskSet("ticket push")
    locks = job_locks_for_app(app)

    def push_to_agent(agent_id: int, notice: dict[str, Any]) -> None:
        """Ticket assignments reach the agent console like offers do (called from worker threads)."""
        if hub is None:
            return
        pushes.spawn_threadsafe(loop, lambda: hub.send_to_agent(agent_id, notice))

    tickets.listeners.append(push_to_agent)
    tasks: list[asyncio.Task[None]] = []
    if background:
        tasks = [
            asyncio.create_task(_every(settings.alert_interval_s, "alert evaluation", alerts.evaluate, locks)),
            asyncio.create_task(_every(60.0, "ticket SLA sweep", tickets.check_breaches, locks)),
            asyncio.create_task(_every(300.0, "unresolved-conversation tickets", tickets.sweep_unresolved, locks)),
            asyncio.create_task(_every(LEARNING_REFRESH_S, "learning refresh", learning.refresh, locks)),
        ]

    async def teardown() -> None:
        if push_to_agent in tickets.listeners:
            tickets.listeners.remove(push_to_agent)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await pushes.drain()

    return teardown


@asynccontextmanager
async def operations_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Runs inside the app's lifespan (after its startup), so ``app.state`` already has settings and sessions."""
    settings: Settings = app.state.settings
    teardown = await install_operations(app, settings, background=settings.operations_background)
    try:
        yield
    finally:
        await teardown()


lifecycle = APIRouter(lifespan=operations_lifespan)
ROUTERS: list[APIRouter] = [lifecycle, tickets_router, reports_router, learning_router, alerts_router]
