"""How the gateway runs its database work from the event loop: one transaction per call, off the loop, retried
through a brief database outage or a lost unique-key race; and one message per customer at a time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from router import timing
from router.db import session_scope

log = logging.getLogger(__name__)
T = TypeVar("T")

DB_RETRIES = 4  # 0.5 + 1 + 2 s of back-off covers a database restart or a fail-over
RACE_RETRIES = 3  # a transaction that lost a unique-key race runs again and finds the winner's rows


class Transactions:
    """Runs a function of a session in one transaction in a worker thread."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    async def run(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` in one transaction off the event loop; a dropped database connection is retried briefly."""

        submitted = 0.0

        def run() -> T:
            timing.add("pool", (time.perf_counter() - submitted) * 1000)  # waiting for a worker thread
            with session_scope(self.sessions) as session:
                return fn(session)

        for attempt in range(DB_RETRIES):
            try:
                with timing.stage("db"):
                    submitted = time.perf_counter()
                    return await run_in_threadpool(run)
            except OperationalError:
                if attempt == DB_RETRIES - 1:
                    raise
                log.warning("database unavailable, retrying (%d/%d)", attempt + 1, DB_RETRIES)
                await asyncio.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")

    async def first_wins(self, fn: Callable[[Session], T]) -> T:
        """Like :meth:`run`, for a transaction that may lose a unique-key race (another request or replica inserted
        the same customer, identity, open conversation or ``client_msg_id`` first): it runs again and, seeing the
        winner's rows, gives the same answer the winner got instead of an error."""
        for attempt in range(RACE_RETRIES):
            try:
                return await self.run(fn)
            except IntegrityError as exc:
                if attempt == RACE_RETRIES - 1:
                    raise
                log.info("lost a race to another request (%s); reading the winner's rows", exc.orig)
        raise AssertionError("unreachable")


@dataclass
class _CustomerLock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class CustomerLocks:
    """One message per customer at a time on this replica; only customers with a message in flight have an entry."""

    def __init__(self) -> None:
        self._locks: dict[str, _CustomerLock] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def hold(self, customer_id: str) -> AsyncIterator[None]:
        """The entry goes away with its last waiter, so the table stays bounded."""
        entry = self._locks.get(customer_id)
        if entry is None:
            entry = self._locks[customer_id] = _CustomerLock()
        entry.users += 1
        try:
            with timing.stage("lock"):
                await entry.lock.acquire()
            try:
                yield
            finally:
                entry.lock.release()
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._locks[customer_id]
