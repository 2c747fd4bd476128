"""The delivery worker: claims due outbox rows with a lease, delivers them, records the outcome.

One runs in every router replica; the lease (a conditional UPDATE) gives each row to one worker at a time. Only the
oldest pending row of a conversation is ever due, so deliveries stay in order per conversation while different
conversations go out in parallel (at most ``concurrency`` at once per replica, each bounded by a deadline: a slow
callback delays only its own conversation). A failed attempt is retried with exponential back-off until
``max_attempts``; then, or at once for failures that repeating cannot fix, the row is dead-lettered (status
``dead``: the admin page lists it and can send it again). A dead row no longer holds back the conversation's later
rows. A 410 from a callback disables its endpoint; its rows wait, pending, until an admin enables it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from router.clock import utcnow
from router.conversations.models import Conversation, Message
from router.db import session_scope
from router.outbound.models import DEAD, DELIVERED, PENDING, OutboundEndpoint, OutboundMessage
from router.outbound.result import Attempt
from router.outbound.webhook import WebhookTransport
from router.outbound.wechat import WeChatClient, messages_for

log = logging.getLogger(__name__)
AgentNotifier = Callable[[int, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    base_s: float = 2.0
    max_s: float = 600.0
    max_attempts: int = 15

    def delay(self, attempts: int, retry_after_s: float | None = None) -> float:
        """Back-off after the ``attempts``-th failure: base * 2^(n-1), capped, with +-20 % jitter."""
        delay = min(self.max_s, self.base_s * 2 ** max(0, attempts - 1)) * random.uniform(0.8, 1.2)
        if retry_after_s is not None:
            delay = max(delay, min(self.max_s, retry_after_s))
        return delay


@dataclass(frozen=True)
class Job:
    id: int
    key: str
    conversation_id: str
    customer_id: str
    transport: str
    payload: dict[str, Any]
    attempts: int
    message_id: int | None
    url: str | None
    secret: str | None


def claim(sessions: sessionmaker[Session], *, limit: int, lease_s: float, now: datetime | None = None) -> list[Job]:
    """Lease up to ``limit`` due rows, each the oldest pending row of its conversation."""
    now = now or utcnow()
    earlier = aliased(OutboundMessage)
    head = ~(
        select(earlier.id)
        .where(
            earlier.conversation_id == OutboundMessage.conversation_id,
            earlier.status == PENDING,
            earlier.id < OutboundMessage.id,
        )
        .exists()
    )
    endpoint_off = (
        select(OutboundEndpoint.id)
        .where(OutboundEndpoint.id == OutboundMessage.endpoint_id, OutboundEndpoint.enabled.is_(False))
        .exists()
    )
    jobs: list[Job] = []
    with session_scope(sessions) as session:
        ids = session.scalars(
            select(OutboundMessage.id)
            .where(
                OutboundMessage.status == PENDING,
                OutboundMessage.next_attempt_at <= now,
                or_(OutboundMessage.lease_until.is_(None), OutboundMessage.lease_until < now),
                head,
                ~endpoint_off,
            )
            .order_by(OutboundMessage.id)
            .limit(limit)
        ).all()
        for row_id in ids:
            taken = session.execute(
                update(OutboundMessage)
                .where(
                    OutboundMessage.id == row_id,
                    OutboundMessage.status == PENDING,
                    or_(OutboundMessage.lease_until.is_(None), OutboundMessage.lease_until < now),
                )
                .values(lease_until=now + timedelta(seconds=lease_s))
            )
            if taken.rowcount != 1:  # type: ignore[attr-defined]  # another replica was faster
                continue
            row = session.get(OutboundMessage, row_id)
            assert row is not None
            endpoint = session.get(OutboundEndpoint, row.endpoint_id) if row.endpoint_id is not None else None
            jobs.append(
                Job(
                    id=row.id,
                    key=row.key,
                    conversation_id=row.conversation_id,
                    customer_id=row.customer_id,
                    transport=row.transport,
                    payload=dict(row.payload),
                    attempts=row.attempts,
                    message_id=row.message_id,
                    url=endpoint.url if endpoint else None,
                    secret=endpoint.secret if endpoint else None,
                )
            )
    return jobs


def record(
    sessions: sessionmaker[Session], job: Job, result: Attempt, policy: RetryPolicy
) -> tuple[str, int | None]:
    """Write the outcome of one attempt; returns (the row's status, the conversation's agent) for the console."""
    with session_scope(sessions) as session:
        row = session.get(OutboundMessage, job.id)
        if row is None:
            return DEAD, None
        now = utcnow()
        row.attempts += 1
        row.lease_until = None
        row.last_status_code = result.status_code
        row.last_error = result.reason
        if result.outcome == "delivered":
            row.status, row.delivered_at = DELIVERED, now
        elif result.outcome == "give_up":
            row.status = DEAD
        elif result.outcome == "endpoint_gone":
            endpoint = session.get(OutboundEndpoint, row.endpoint_id) if row.endpoint_id is not None else None
            if endpoint is not None:
                endpoint.enabled, endpoint.disabled_reason, endpoint.updated_at = False, result.reason, now
            row.attempts -= 1  # waiting for the shop to re-enable is not a failed try of this message
        elif row.attempts >= policy.max_attempts:
            row.status = DEAD
            row.last_error = f"{result.reason} (gave up after {row.attempts} attempts)"
        else:
            row.next_attempt_at = now + timedelta(seconds=policy.delay(row.attempts, result.retry_after_s))
        conv = session.get(Conversation, row.conversation_id)
        return row.status, conv.agent_id if conv is not None else None


def release(sessions: sessionmaker[Session], ids: list[int]) -> None:
    """Give back the leases of rows whose attempt was interrupted (shutdown): they are due again at once."""
    if not ids:
        return
    with session_scope(sessions) as session:
        session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id.in_(ids), OutboundMessage.status == PENDING)
            .values(lease_until=None)
        )


def within_reply_window(sessions: sessionmaker[Session], customer_id: str, window_s: float) -> bool:
    """Did the shopper write from the mini-program within WeChat's reply window?"""
    with session_scope(sessions) as session:
        last = session.scalar(
            select(Message.created_at)
            .where(Message.customer_id == customer_id, Message.direction == "in", Message.channel == "miniprogram")
            .order_by(Message.id.desc())
            .limit(1)
        )
    if last is None:
        return False
    if last.tzinfo is None:  # SQLite hands datetimes back naive; they were written in UTC
        last = last.replace(tzinfo=utcnow().tzinfo)
    return (utcnow() - last).total_seconds() <= window_s


class DeliveryWorker:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        webhook: WebhookTransport,
        wechat: WeChatClient | None = None,
        policy: RetryPolicy | None = None,
        concurrency: int = 8,
        poll_s: float = 0.5,
        deadline_s: float = 15.0,
        reply_window_s: float = 48 * 3600.0,
        survey_url: str | None = None,
        notify_agent: AgentNotifier | None = None,
    ) -> None:
        self.sessions = sessions
        self.webhook = webhook
        self.wechat = wechat
        self.policy = policy or RetryPolicy()
        self.concurrency = concurrency
        self.poll_s = poll_s
        self.deadline_s = deadline_s
        self.reply_window_s = reply_window_s
        self.survey_url = survey_url
        self.notify_agent = notify_agent
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run())

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        # Python 3.11's asyncio.wait_for can swallow a cancellation (CPython gh-86296), so the loop also checks a flag;
        # gather (not a suppressed CancelledError) so that a cancellation of stop() itself still reaches its caller
        self._stopping = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.to_thread(release, self.sessions, list(self._inflight))
        self._inflight.clear()

    async def _run(self) -> None:
        lease_s = self.deadline_s + 30.0
        while not self._stopping:
            try:
                free = self.concurrency - len(self._inflight)
                if free > 0:
                    jobs = await asyncio.to_thread(claim, self.sessions, limit=free, lease_s=lease_s)
                    for job in jobs:
                        self._inflight[job.id] = asyncio.create_task(self._deliver(job))
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be briefly away; the leases expire and rows come back
                log.exception("claiming outbound deliveries failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_s):  # unlike wait_for, never swallows a cancellation
                    await self._wake.wait()

    async def _deliver(self, job: Job) -> None:
        try:
            try:
                async with asyncio.timeout(self.deadline_s):
                    result = await self._send(job)
            except TimeoutError:
                result = Attempt.retry(f"no answer within {self.deadline_s:g} s")
            except Exception as exc:  # a bug in a transport must not lose the row: it is retried like a failure
                log.exception("outbound delivery %s failed", job.id)
                result = Attempt.retry(f"internal error: {type(exc).__name__}")
            status, agent_id = await asyncio.to_thread(record, self.sessions, job, result, self.policy)
            self._inflight.pop(job.id, None)
            self.wake()  # the conversation's next row may be due now
            if result.outcome != "delivered":
                log.info("outbound %s (%s) %s: %s", job.id, job.transport, result.outcome, result.reason)
            await self._tell_agent(job, status, result, agent_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            self._inflight.pop(job.id, None)
            log.exception("recording outbound delivery %s failed; its lease will expire", job.id)

    async def _send(self, job: Job) -> Attempt:
        if job.transport == "webhook":
            if job.url is None or job.secret is None:
                return Attempt.give_up("the callback endpoint was removed")
            return await self.webhook.send(
                url=job.url, secret=job.secret, key=job.key, payload=job.payload, attempt=job.attempts + 1
            )
        if job.transport == "wechat":
            if self.wechat is None:
                return Attempt.retry("the WeChat adapter is not configured on this replica")
            inside = await asyncio.to_thread(within_reply_window, self.sessions, job.customer_id, self.reply_window_s)
            if not inside:
                return Attempt.give_up("outside WeChat's 48-hour reply window")
            result = Attempt.give_up("nothing to send")
            for message in messages_for(job.payload, survey_url=self.survey_url):
                result = await self.wechat.send(message)
                if result.outcome != "delivered":
                    break
            return result
        return Attempt.give_up(f"unknown transport {job.transport}")

    async def _tell_agent(self, job: Job, status: str, result: Attempt, agent_id: int | None) -> None:
        if self.notify_agent is None or job.message_id is None or agent_id is None:
            return
        event = {
            "type": "delivery",
            "conversation_id": job.conversation_id,
            "message_id": job.message_id,
            "status": "failed" if status == DEAD else ("delivered" if status == DELIVERED else "retrying"),
            "reason": result.reason,
        }
        try:
            await self.notify_agent(agent_id, event)
        except Exception:  # the console re-reads statuses when it opens the conversation
            log.warning("could not tell agent %s about delivery %s", agent_id, job.id)
