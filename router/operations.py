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
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.concurrency import run_in_threadpool

from router.alerts.api import router as alerts_router
from router.learning.api import router as learning_router
from router.operations_services import (
    alert_service_for_app,
    job_locks_for_app,
    learning_service_for_app,
    ticket_service_for_app,
)
from router.reports.api import router as reports_router
from router.settings import Settings
from router.singleton import JobLocks
from router.tasks import TaskSet
from router.tickets.api import router as tickets_router

log = logging.getLogger(__name__)
LEARNING_REFRESH_S = 900.0


async def _every(interval_s: float, name: str, work: Callable[[], Any], locks: JobLocks) -> None:
    """Run ``work`` every ``interval_s`` on whichever replica holds the job's lock at that moment."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await run_in_threadpool(locks.run, name, work)
        except Exception:  # a failed sweep is retried next interval; it must not end the loop
            log.exception("%s failed; retrying in %.0f s", name, interval_s)


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
