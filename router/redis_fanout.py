"""One Redis pub/sub subscription per process, kept alive across Redis restarts (used by the push fan-outs).

Pub/sub keeps nothing: whatever was published while this process was not subscribed (Redis restarting, the network
gone) is lost to it.  Every message is stored before it is pushed, so the fan-outs answer a gap with a ``resync``
event to the sockets they hold, after subscribing again: the console and the chat window re-read what they show.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)
Handler = Callable[[dict[str, Any]], Awaitable[None] | None]
GapHandler = Callable[[], Awaitable[None] | None]


class RedisSubscription:
    """Subscribe to ``channel`` and hand every JSON envelope to ``handler``; resubscribe after any error.

    ``on_gap`` runs each time the subscription is back after a failure (not on the first subscribe): messages may
    have been published meanwhile that this process never saw.
    """

    def __init__(self, redis: Any, channel: str, handler: Handler, on_gap: GapHandler | None = None) -> None:
        self._redis = redis
        self.channel = channel
        self._handler = handler
        self._on_gap = on_gap
        self._task: asyncio.Task[None] | None = None
        self.gaps = 0

    async def start(self) -> None:
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._listen(ready))
        await asyncio.wait_for(ready.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen(self, ready: asyncio.Event) -> None:
        failed = False
        while True:
            try:
                pubsub = self._redis.pubsub()
                await pubsub.subscribe(self.channel)
                ready.set()
                if failed:
                    failed = False
                    self.gaps += 1
                    log.warning("redis listener on %s is back; telling local sockets to re-read", self.channel)
                    await self._gap()
                async for raw in pubsub.listen():
                    if raw.get("type") != "message":
                        continue
                    result = self._handler(json.loads(raw["data"]))
                    if result is not None:
                        await result
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis restarted: resubscribe after a pause, never take the replica down
                failed = True
                log.warning("redis listener on %s failed: %s; reconnecting", self.channel, exc)
                await asyncio.sleep(1.0)

    async def _gap(self) -> None:
        if self._on_gap is None:
            return
        try:
            result = self._on_gap()
            if result is not None:
                await result
        except Exception:  # a socket that cannot take the notice is dropped by its own pump
            log.exception("resync after a redis gap on %s failed", self.channel)
