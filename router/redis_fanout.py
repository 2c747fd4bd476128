"""One Redis pub/sub subscription per process, kept alive across Redis restarts (used by the push fan-outs)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)
Handler = Callable[[dict[str, Any]], Awaitable[None] | None]


class RedisSubscription:
    """Subscribe to ``channel`` and hand every JSON envelope to ``handler``; resubscribe after any error."""

    def __init__(self, redis: Any, channel: str, handler: Handler) -> None:
        self._redis = redis
        self.channel = channel
        self._handler = handler
        self._task: asyncio.Task[None] | None = None

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
        while True:
            try:
                pubsub = self._redis.pubsub()
                await pubsub.subscribe(self.channel)
                ready.set()
                async for raw in pubsub.listen():
                    if raw.get("type") != "message":
                        continue
                    result = self._handler(json.loads(raw["data"]))
                    if result is not None:
                        await result
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis restarted: resubscribe after a pause, never take the replica down
                log.warning("redis listener on %s failed: %s; reconnecting", self.channel, exc)
                await asyncio.sleep(1.0)
