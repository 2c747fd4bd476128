"""The router service's FastAPI app, built by :func:`create_app` (tests build real apps the same way).

Heavy objects (DB engine, routing engine, hub) and every domain service are created once in the lifespan, never at
import or on a first request, into one :class:`router.services.Services` on ``app.state.services``.  Extend the app
by appending routers to ``router.api.routers.ROUTERS`` or passing ``routers=`` / ``on_startup=`` hooks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.concurrency import run_in_threadpool

from router import migrate
from router.admin.faq_service import FaqAdmin
from router.api.routers import ROUTERS
from router.db import make_engine, make_session_factory
from router.errors import install_error_handler
from router.hub import AgentHub, LocalHub, bridge_engine_to_hub
from router.operations import start_operations
from router.presence import (
    LocalPresence,
    PresenceMonitor,
    RedisPresence,
    presence_loop,
    record_presence_changes,
)
from router.routing.engine import EngineConfig, RoutingEngine
from router.routing.protocol import RoutingEngineProtocol
from router.routing.store import SqlStore
from router.services import Services, build_services
from router.settings import Settings, get_settings
from router.tasks import Supervised
from router.timing import ServerTiming

if TYPE_CHECKING:
    from knowledge_base.service import KnowledgeBase

log = logging.getLogger(__name__)
Hook = Callable[[FastAPI], Awaitable[None] | None]


async def _run_hook(hook: Hook, app: FastAPI) -> None:
    result = hook(app)
    if inspect.isawaitable(result):
        await result


async def routing_timer_loop(engine: RoutingEngineProtocol, max_sleep_s: float) -> None:
    """Fire offer timeouts, relaxation steps and re-offer cool-downs when due (never sleeping past ``max_sleep_s``).

    Every step is inside the ``try``: asking for the next timer can fail too (the heap changes under worker threads),
    and a loop that ends here means offers never time out again.  :class:`router.tasks.Supervised` restarts it if it
    ends anyway."""
    while True:
        try:
            due = engine.next_due()
            delay = max_sleep_s if due is None else min(max_sleep_s, max(0.0, due - engine.clock()))
            await asyncio.sleep(delay)
            await run_in_threadpool(engine.tick)
        except Exception:  # a database hiccup must not stop timeouts for good
            log.exception("routing tick failed; retrying")
            await asyncio.sleep(1.0)


def create_app(
    settings: Settings | None = None,
    *,
    db_engine: Engine | None = None,
    hub: AgentHub | None = None,
    engine_config: EngineConfig | None = None,
    run_migrations: bool = True,
    routers: Sequence[APIRouter] = (),
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
    with_gateway: bool = False,
    kb: KnowledgeBase | None = None,
    faq_admin: FaqAdmin | None = None,
) -> FastAPI:
    """Build the router service. ``app.state.services`` holds everything the lifespan builds (``app.state`` also
    keeps settings, db_engine, sessions, engine (routing), hub and presence, which the gateway's wiring reads).
    ``kb`` is the FAQ knowledge base of ticket topics, the learning loop and the FAQ admin (default: the
    process-wide one, loaded when first asked); ``faq_admin`` an FAQ admin over it."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = db_engine or make_engine(settings.database_url)
        if run_migrations:
            await run_in_threadpool(migrate.upgrade, engine=db)
        config = engine_config or EngineConfig.from_settings(settings)
        redis_hub = None
        if settings.redis_url:  # several replicas: shared routing state and agent push (router.cluster)
            from router.cluster import ClusteredEngine, RedisHub

            routing: RoutingEngineProtocol = ClusteredEngine(
                SqlStore(db), config=config, redis_url=settings.redis_url, namespace=settings.redis_namespace
            )
            if hub is None:
                redis_hub = RedisHub(settings.redis_url, settings.redis_namespace)
                await redis_hub.start()
        else:
            routing = RoutingEngine(SqlStore(db), config=config)
        await run_in_threadpool(routing.recover)
        agent_hub = hub or redis_hub or LocalHub()
        app.state.db_engine, app.state.sessions = db, make_session_factory(db)
        app.state.engine, app.state.hub = routing, agent_hub
        unsubscribe = bridge_engine_to_hub(routing, agent_hub, asyncio.get_running_loop())
        timer = Supervised(
            "routing timer loop", lambda: routing_timer_loop(routing, settings.routing_tick_max_s)
        ).start()
        app.state.routing_timer = timer
        presence: Any = (
            RedisPresence(settings.redis_url, settings.redis_namespace, ttl_s=settings.presence_ttl_s)
            if settings.redis_url
            else LocalPresence()
        )
        monitor = PresenceMonitor(
            routing, presence, grace_s=settings.presence_grace_s, held_grace_s=settings.presence_held_grace_s
        )
        app.state.presence, app.state.presence_monitor = presence, monitor
        services = build_services(
            settings, db_engine=db, sessions=app.state.sessions, engine=routing, hub=agent_hub, presence=presence,
            presence_monitor=monitor, kb=kb, faq_admin=faq_admin,
        )
        app.state.services = services
        unrecord = record_presence_changes(routing, services.sessions)
        presence_task = Supervised(
            "presence loop",
            lambda: presence_loop(monitor, settings.presence_check_s, settings.presence_ttl_s / 3),
        ).start()
        gateway_teardown = None
        if with_gateway:
            from router.gateway.wiring import install_gateway

            gateway_teardown = await install_gateway(app, settings)
        for hook in on_startup:
            await _run_hook(hook, app)
        operations_teardown = await start_operations(services, background=settings.operations_background)
        try:
            yield
        finally:
            await operations_teardown()
            for hook in on_shutdown:
                await _run_hook(hook, app)
            if gateway_teardown is not None:
                await gateway_teardown()
            await timer.stop()
            await presence_task.stop()
            unrecord()
            if isinstance(presence, RedisPresence):
                presence.close()
            unsubscribe()
            if redis_hub is not None:
                await redis_hub.stop()
            if db_engine is None:
                db.dispose()

    app = FastAPI(
        title="kefu router",
        version="0.1.0",
        description="kefu 客服: skill-based routing of shoppers to human agents, agent API and WebSocket.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.add_middleware(ServerTiming)  # where each request's time went (router/timing.py)

    install_error_handler(app)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # the default handler echoes the input back and fails (500) on a binary body it cannot encode
        errors = [
            {**{k: v for k, v in e.items() if k not in ("input", "ctx", "url")}, "input": _safe_input(e.get("input"))}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)

    @app.exception_handler(IntegrityError)
    async def _conflict(_request: Request, exc: IntegrityError) -> JSONResponse:
        # a unique key refused a write another request (or replica) made first; the services retry the races they
        # know, so this is the rare one left: the client may retry and will then see the winner's state
        log.warning("unresolved write conflict: %s", exc.orig)
        return JSONResponse(
            {
                "detail": "conflicting concurrent change, please retry",
                "code": "Conflict",
                "message": "操作冲突，请稍后重试",
            },
            status_code=409,
        )

    @app.get("/healthz", tags=["ops"], summary="Liveness and database check")
    def healthz(request: Request) -> dict[str, Any]:
        services: Services = request.app.state.services
        with services.db_engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        routing = services.engine
        health: dict[str, Any] = {
            "status": "ok",
            "agents_online": routing.agents_online(),
            "live_conversations": len(routing.items),
        }
        cluster = getattr(routing, "stats", None)  # a ClusteredEngine: its lock and change-log counters
        if dataclasses.is_dataclass(cluster):
            health["cluster"] = dataclasses.asdict(cluster)  # type: ignore[arg-type]
        return health

    gateway_routers: list[APIRouter] = []
    if with_gateway:
        from router.gateway.wiring import ROUTERS as GATEWAY_ROUTERS

        gateway_routers = GATEWAY_ROUTERS
    for api_router in [*ROUTERS, *gateway_routers, *routers]:
        app.include_router(api_router)
    return app


def _safe_input(value: object) -> object:
    if isinstance(value, bytes | bytearray):
        return bytes(value[:200]).decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value[:200]
    if value is None or isinstance(value, int | float | bool):
        return value
    return str(value)[:200]


def create_service() -> FastAPI:
    """The whole router service as deployed (``uvicorn router.app:create_service --factory``): routing, agents and the
    shopper gateway (Rasa bridge, sentiment, push), configured from the environment."""
    from fastapi.middleware.cors import CORSMiddleware

    from router.gateway.limits import BodySizeLimit

    settings = get_settings()
    hooks: list[Hook] = []
    if settings.demo_users:
        from router.demo.users import seed_demo_users_hook

        hooks.append(seed_demo_users_hook)
    app = create_app(settings, with_gateway=True, on_startup=hooks)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)

    @app.exception_handler(OperationalError)
    async def _database_down(_request: Request, _exc: OperationalError) -> JSONResponse:
        # the message was not accepted; the client may retry it (same client_msg_id: stored once)
        return JSONResponse(
            {"detail": "database temporarily unavailable, please retry"}, status_code=503, headers={"Retry-After": "2"}
        )

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    return app
