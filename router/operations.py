"""The operations side of the router app (tickets, KPIs and /metrics, learning loop, risk alerts): its routers and
its background work.

``router.api.routers.ROUTERS`` mounts :data:`ROUTERS`; the app's lifespan (``router.app``) builds the services
(:mod:`router.services`) and calls :func:`start_operations`, which starts SLA breach sweeps, tickets for unresolved
conversations, alert evaluation and a periodic learning refresh (``KEFU_ROUTER_OPERATIONS_BACKGROUND=false`` turns
them off), each on one replica at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from router.alerts.api import router as alerts_router
from router.learning.api import router as learning_router
from router.reports.api import router as reports_router
from router.services import Services
from router.singleton import JobLocks
from router.tasks import TaskSet
from router.tickets.api import router as tickets_router

log = logging.getLogger(__name__)
LEARNING_REFRESH_S = 900.0
ROUTERS: list[APIRouter] = [tickets_router, reports_router, learning_router, alerts_router]


async def _every(interval_s: float, name: str, work: Callable[[], Any], locks: JobLocks) -> None:
    """Run ``work`` every ``interval_s`` on whichever replica holds the job's lock at that moment."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await run_in_threadpool(locks.run, name, work)
        except Exception:  # a failed sweep is retried next interval; it must not end the loop
            log.exception("%s failed; retrying in %.0f s", name, interval_s)


async def start_operations(services: Services, *, background: bool = True) -> Callable[[], Awaitable[None]]:
    """Push ticket assignments to the agents' consoles and start the background loops; return the teardown."""
    tickets, hub, locks = services.tickets, services.hub, services.job_locks
    loop = asyncio.get_running_loop()
    pushes = TaskSet("ticket push")

    def push_to_agent(agent_id: int, notice: dict[str, Any]) -> None:
        """Ticket assignments reach the agent console like offers do (called from worker threads)."""
        pushes.spawn_threadsafe(loop, lambda: hub.send_to_agent(agent_id, notice))

    tickets.listeners.append(push_to_agent)
    tasks: list[asyncio.Task[None]] = []
    if background:
        interval = services.settings.alert_interval_s
        tasks = [
            asyncio.create_task(_every(interval, "alert evaluation", services.alerts.evaluate, locks)),
            asyncio.create_task(_every(60.0, "ticket SLA sweep", tickets.check_breaches, locks)),
            asyncio.create_task(_every(300.0, "unresolved-conversation tickets", tickets.sweep_unresolved, locks)),
            asyncio.create_task(_every(LEARNING_REFRESH_S, "learning refresh", services.learning.refresh, locks)),
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
