"""Install the gateway into the router app: built in the lifespan, after the routing engine and the agent hub."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.concurrency import run_in_threadpool

from router.gateway import agent_api, api
from router.gateway.anger import AngerPolicy, AngerSettings
from router.gateway.context import ContextBuilder, default_faq_search, default_order_lookup
from router.gateway.limits import LocalRateLimiter, RateLimiter, RedisRateLimiter
from router.gateway.ports import Push
from router.gateway.push import CustomerSockets, LocalPush, RedisPush
from router.gateway.rasa_client import RasaClient
from router.gateway.routing_adapter import EngineQueue, bridge_events
from router.gateway.service import GatewayService
from router.identity.wiring import build_identity, identity_routers
from router.outbound.wiring import ROUTERS as OUTBOUND_ROUTERS
from router.outbound.wiring import install_outbound, outbox_writer
from router.routing.errors import UnknownAgent
from router.routing.protocol import RoutingEngineProtocol
from router.sentiment import SentimentAnalyzer
from router.settings import Settings
from router.singleton import JobLocks
from router.supervision.team import closed_hours_checker

log = logging.getLogger(__name__)
ROUTERS: list[APIRouter] = [api.router, agent_api.router, *OUTBOUND_ROUTERS, *identity_routers()]


async def install_gateway(app: FastAPI, settings: Settings) -> Callable[[], Awaitable[None]]:
    """Build the gateway on ``app.state`` and return the coroutine function that tears it down."""
    engine: RoutingEngineProtocol = app.state.engine
    hub = app.state.hub
    await run_in_threadpool(build_identity, app, settings)
    sentiment = await run_in_threadpool(SentimentAnalyzer.load, settings.sentiment_model_path)
    rasa = RasaClient(base_url=settings.rasa_url, token=settings.rasa_token, timeout_s=settings.rasa_timeout_s)
    sockets = CustomerSockets()
    push: Push
    redis_push: RedisPush | None = None
    if settings.redis_url:
        redis_push = RedisPush(settings.redis_url, sockets, hub.send_to_agent, settings.redis_namespace)
        await redis_push.start()
        push = redis_push
    else:
        push = LocalPush(sockets, hub.send_to_agent)
    limiter = _rate_limiter(settings, settings.rate_limit_messages, settings.rate_limit_window_s, "")
    visitor_limiter = _rate_limiter(settings, settings.visitor_new_per_ip, settings.visitor_new_window_s, ":visitors")
    app.state.visitor_limiter = visitor_limiter
    from router.operations_services import ticket_service_for_app

    tickets = ticket_service_for_app(app)
    gateway = GatewayService(
        session_factory=app.state.sessions,
        rasa=rasa,
        sentiment=sentiment,
        queue=EngineQueue(engine, closed_hours=closed_hours_checker(app.state.sessions, settings.report_timezone)),
        tickets=tickets,
        push=push,
        rate_limiter=limiter,
        outbound=(writer := outbox_writer(settings)),
        leave_message_window_s=settings.leave_message_window_s,
        anger=AngerPolicy(
            AngerSettings(
                handoff_anger=settings.sentiment_handoff_anger,
                offer_anger=settings.sentiment_offer_anger,
                window=settings.sentiment_escalate_window,
                negative_run=settings.sentiment_negative_run,
                mood_confidence=settings.sentiment_mood_confidence,
            )
        ),
    )
    app.state.gateway = gateway
    outbound_teardown = await install_outbound(app, settings, gateway, writer)
    app.state.customer_sockets = sockets
    app.state.context_builder = ContextBuilder(
        rasa=rasa, order_lookup=default_order_lookup(), faq_search=default_faq_search(), mood=gateway.anger.mood
    )

    async def agent_said(agent_id: int, conversation_id: str, text: str) -> Any:
        reply = await gateway.agent_message(conversation_id=conversation_id, agent_id=agent_id, text=text)
        return reply.model_dump()

    hub.on_agent_message(agent_said)

    def agent_name(agent_id: int) -> str:
        try:
            return engine.get_agent(agent_id).name
        except UnknownAgent:
            return ""

    unsubscribe = bridge_events(engine, asyncio.get_running_loop(), gateway, agent_name)
    from router.operations_services import job_locks_for_app

    idle_task = asyncio.create_task(
        _idle_closer(gateway, settings.conversation_idle_close_s, job_locks_for_app(app))
    )

    async def teardown() -> None:
        await outbound_teardown()
        idle_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await idle_task
        unsubscribe()
        if redis_push is not None:
            await redis_push.stop()
        await rasa.aclose()
        for each in (limiter, visitor_limiter):
            if isinstance(each, RedisRateLimiter):
                await each.aclose()

    return teardown


async def _idle_closer(gateway: GatewayService, idle_s: float, locks: JobLocks) -> None:
    """Bot conversations nobody touched for ``idle_s`` end as resolved by the bot (one replica at a time)."""
    while True:
        await asyncio.sleep(min(60.0, max(1.0, idle_s / 4)))
        try:
            _ran, closed = await run_in_threadpool(
                locks.run, "idle close", lambda: gateway.close_idle_bot_conversations(idle_s=idle_s)
            )
            if closed:
                log.info("closed %d idle bot conversations", closed)
        except Exception:  # the database may be briefly unavailable; try again next round
            log.exception("closing idle conversations failed")


def _rate_limiter(settings: Settings, limit: int, window_s: float, suffix: str) -> RateLimiter:
    """Shared by every replica through Redis where it is configured, else counted in this process."""
    if settings.redis_url:
        return RedisRateLimiter(settings.redis_url, limit=limit, window_s=window_s,
                                namespace=settings.redis_namespace + suffix)
    return LocalRateLimiter(limit=limit, window_s=window_s)
