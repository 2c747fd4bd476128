"""Build outbound delivery into the router app (called from the gateway's wiring, in the lifespan)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI

from router.gateway.service import GatewayService
from router.outbound import api, feed, wechat_push
from router.outbound.outbox import OutboxWriter
from router.outbound.queue_watch import watch_queue
from router.outbound.service import OutboundAdmin, UrlPolicy
from router.outbound.webhook import WebhookTransport
from router.outbound.wechat import WeChatClient
from router.outbound.worker import DeliveryWorker, RetryPolicy
from router.settings import Settings

ROUTERS: list[APIRouter] = [api.router, api.agent_router, api.page_router, feed.router, wechat_push.router]


def wechat_configured(settings: Settings) -> bool:
    return bool(settings.wechat_app_id and settings.wechat_app_secret)


def url_policy(settings: Settings) -> UrlPolicy:
    dev = settings.env == "dev"
    allow = dev if settings.outbound_allow_private is None else settings.outbound_allow_private
    return UrlPolicy(allow_private=allow, require_https=not dev)


def outbox_writer(settings: Settings) -> OutboxWriter | None:
    """The gateway's outbound sink (None when outbound delivery is switched off)."""
    if not settings.outbound_enabled:
        return None
    return OutboxWriter(wechat_enabled=wechat_configured(settings))


async def install_outbound(
    app: FastAPI, settings: Settings, gateway: GatewayService, writer: OutboxWriter | None
) -> Callable[[], Awaitable[None]]:
    """Admin service, delivery worker and queue watcher on ``app.state``; returns the teardown."""
    policy = url_policy(settings)
    app.state.outbound_admin = OutboundAdmin(sessions=app.state.sessions, url_policy=policy)
    app.state.outbox_writer = writer or OutboxWriter(wechat_enabled=False)
    if writer is None:

        async def nothing() -> None:
            return None

        return nothing
    webhook = WebhookTransport(
        timeout_s=settings.outbound_timeout_s,
        connect_timeout_s=settings.outbound_connect_timeout_s,
        max_body_bytes=settings.outbound_max_body_bytes,
        allow_private=policy.allow_private,
        require_https=policy.require_https,
    )
    wechat = None
    if wechat_configured(settings):
        wechat = WeChatClient(
            app_id=str(settings.wechat_app_id),
            app_secret=str(settings.wechat_app_secret),
            api_base=settings.wechat_api_base,
            timeout_s=settings.outbound_timeout_s,
        )
    worker = DeliveryWorker(
        sessions=app.state.sessions,
        webhook=webhook,
        wechat=wechat,
        policy=RetryPolicy(
            base_s=settings.outbound_backoff_base_s,
            max_s=settings.outbound_backoff_max_s,
            max_attempts=settings.outbound_max_attempts,
        ),
        concurrency=settings.outbound_concurrency,
        poll_s=settings.outbound_poll_s,
        deadline_s=settings.outbound_timeout_s + settings.outbound_connect_timeout_s,
        reply_window_s=settings.wechat_reply_window_s,
        survey_url=settings.wechat_survey_url,
        notify_agent=gateway.push.to_agent,
    )
    worker.start()
    app.state.outbound_worker = worker
    watcher = asyncio.create_task(
        watch_queue(app.state.sessions, writer, gateway.queue, settings.outbound_queue_interval_s)
    )

    async def teardown() -> None:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await worker.stop()
        await webhook.aclose()
        if wechat is not None:
            await wechat.aclose()

    return teardown
