"""Shared set-up of the outbound tests: a migrated SQLite database with app conversations and a worker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from router.conversations.models import Conversation, Customer
from router.db import session_scope
from router.gateway.schemas import Reply
from router.outbound.models import OutboundMessage
from router.outbound.outbox import OutboxWriter
from router.outbound.service import OutboundAdmin, UrlPolicy
from router.outbound.webhook import WebhookTransport
from router.outbound.worker import DeliveryWorker, RetryPolicy
from tests.router.ops_support import migrated

LOOPBACK = UrlPolicy(allow_private=True, require_https=False)


def database(tmp_path: Path) -> sessionmaker[Session]:
    _engine, sessions = migrated(tmp_path, "outbound.db")
    return sessions


def conversation(sessions: sessionmaker[Session], customer_id: str, channel: str = "app") -> str:
    with session_scope(sessions) as session:
        if session.get(Customer, customer_id) is None:
            session.add(Customer(id=customer_id))
            session.flush()
        conv = Conversation(customer_id=customer_id, channel=channel, first_channel=channel, owner="agent")
        session.add(conv)
        session.flush()
        return conv.id


def write(sessions: sessionmaker[Session], conv_id: str, texts: list[str]) -> list[str]:
    """Outbox rows for agent messages (message ids are made up: the webhook does not need the rows)."""
    writer = OutboxWriter(wechat_enabled=True)
    keys = []
    with session_scope(sessions) as session:
        conv = session.get(Conversation, conv_id)
        assert conv is not None
        for text in texts:
            replies = [Reply(id=None, text=text, sender="agent")]
            keys += [row.key for row in writer.notify(session, conv, "agent_message", replies)]
    return keys


def rows(sessions: sessionmaker[Session]) -> list[OutboundMessage]:
    with session_scope(sessions) as session:
        return list(session.scalars(select(OutboundMessage).order_by(OutboundMessage.id)).all())


def worker(
    sessions: sessionmaker[Session],
    *,
    timeout_s: float = 2.0,
    max_attempts: int = 4,
    base_s: float = 0.05,
    concurrency: int = 4,
    max_body_bytes: int = 256 * 1024,
) -> DeliveryWorker:
    webhook = WebhookTransport(
        timeout_s=timeout_s,
        connect_timeout_s=1.0,
        max_body_bytes=max_body_bytes,
        allow_private=True,
        require_https=False,
    )
    return DeliveryWorker(
        sessions=sessions,
        webhook=webhook,
        policy=RetryPolicy(base_s=base_s, max_s=0.5, max_attempts=max_attempts),
        concurrency=concurrency,
        poll_s=0.05,
        deadline_s=timeout_s + 1.0,
    )


def run_worker(w: DeliveryWorker, until: Callable[[], bool], timeout: float = 20.0) -> float:
    """Run the worker until ``until()`` holds (checked every 50 ms); returns the seconds it took."""

    async def main() -> float:
        started = time.monotonic()
        w.start()
        try:
            while not await asyncio.to_thread(until):
                assert time.monotonic() - started < timeout, "condition not reached in time"
                await asyncio.sleep(0.05)
            return time.monotonic() - started
        finally:
            await w.stop()
            await w.webhook.aclose()

    return asyncio.run(main())


def register(sessions: sessionmaker[Session], url: str) -> str:
    _endpoint, secret = OutboundAdmin(sessions=sessions, url_policy=LOOPBACK).register(channel="app", url=url)
    return secret
