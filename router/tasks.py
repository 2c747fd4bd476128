"""Background work on the event loop that cannot silently die: supervised loops and referenced one-off tasks.

``asyncio`` keeps only a weak reference to a task, so a fire-and-forget ``create_task`` may be garbage-collected
before it finishes, and an exception in a loop task ends it for good with nothing but a "Task exception was never
retrieved" line at exit.  :class:`Supervised` restarts a loop that ended (raised, returned or was cancelled from
outside) after a short pause; :class:`TaskSet` holds the one-off tasks until they are done and logs their failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class Supervised:
    """Run ``factory()`` as a task and start it again whenever it ends, until :meth:`stop`."""

    def __init__(
        self, name: str, factory: Callable[[], Coroutine[Any, Any, None]], *, restart_delay_s: float = 1.0
    ) -> None:
        self.name = name
        self.factory = factory
        self.restart_delay_s = restart_delay_s
        self.restarts = 0
        self.current: asyncio.Task[None] | None = None  # the running loop (tests kill it to see it come back)
        self._supervisor: asyncio.Task[None] | None = None

    def start(self) -> Supervised:
        self._supervisor = asyncio.create_task(self._run(), name=f"supervisor:{self.name}")
        return self

    async def _run(self) -> None:
        while True:
            self.current = asyncio.create_task(self.factory(), name=self.name)
            try:
                await self.current
                log.error("%s ended; restarting in %.1f s", self.name, self.restart_delay_s)
            except asyncio.CancelledError:
                me = asyncio.current_task()
                if me is not None and me.cancelling():  # the supervisor itself is being stopped
                    self.current.cancel()
                    raise
                log.error("%s was cancelled; restarting in %.1f s", self.name, self.restart_delay_s)
            except Exception:
                log.exception("%s died; restarting in %.1f s", self.name, self.restart_delay_s)
            self.restarts += 1
            await asyncio.sleep(self.restart_delay_s)

    async def stop(self) -> None:
        if self._supervisor is None:
            return
        self._supervisor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._supervisor
        if self.current is not None and not self.current.done():
            self.current.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.current


class TaskSet:
    """One-off tasks kept referenced until done; a failure is logged, never lost."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def spawn_threadsafe(self, loop: asyncio.AbstractEventLoop, make: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """From a worker thread: create the task on ``loop`` (ignored once the loop is closed)."""
        with contextlib.suppress(RuntimeError):  # loop closed during shutdown
            loop.call_soon_threadsafe(lambda: self.spawn(make()))

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s task failed", self.name, exc_info=task.exception())

    def __len__(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Wait (bounded) for the tasks still running, then cancel what is left."""
        pending = set(self._tasks)
        if not pending:
            return
        _done, left = await asyncio.wait(pending, timeout=timeout_s)
        for task in left:
            task.cancel()
