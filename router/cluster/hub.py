"""Agent push across replicas through Redis pub/sub: an offer made on replica A reaches the agent whose WebSocket is
on replica B."""

from __future__ import annotations

import json
import logging
from typing import Any

from router.hub import LocalHub
from router.redis_fanout import RedisSubscription

log = logging.getLogger(__name__)


class RedisHub(LocalHub):
    """Agent push across replicas: ``send_to_agent`` publishes; every replica delivers to the sockets it holds."""

    def __init__(self, redis_url: str, namespace: str = "kefu") -> None:
        import redis.asyncio as aioredis

        super().__init__()
        self.CHANNEL = f"{namespace}:push:agent"
        self._redis = aioredis.from_url(redis_url)
        self._subscription = RedisSubscription(
            self._redis, self.CHANNEL, lambda env: self.deliver_nowait(int(env["agent_id"]), env["event"]),
            on_gap=self.resync_all,
        )

    async def start(self) -> None:
        await self._subscription.start()

    async def stop(self) -> None:
        await self._subscription.stop()
        await self._redis.aclose()

    async def send_to_agent(self, agent_id: int, event: dict[str, Any]) -> None:
        payload = json.dumps({"agent_id": agent_id, "event": event}, ensure_ascii=False, default=str)
        try:
            await self._redis.publish(self.CHANNEL, payload)
        except Exception as exc:  # Redis briefly down: at least the sockets on this replica get it
            log.warning("redis publish to agent failed (%s); delivering locally", exc)
            self.deliver_nowait(agent_id, event)
