"""Push fan-out to shoppers' WebSockets: in-process, or across replicas through Redis pub/sub."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.websockets import WebSocket

from router.redis_fanout import RedisSubscription

log = logging.getLogger(__name__)
AgentSender = Callable[[int, dict[str, Any]], Awaitable[None]]


class CustomerSockets:
    """The WebSockets connected to this process, per customer (one shopper may have several tabs/devices)."""

    def __init__(self) -> None:
        self._sockets: dict[str, set[WebSocket]] = defaultdict(set)

    def add(self, customer_id: str, ws: WebSocket) -> None:
        self._sockets[customer_id].add(ws)

    def remove(self, customer_id: str, ws: WebSocket) -> None:
        sockets = self._sockets.get(customer_id)
        if sockets is not None:
            sockets.discard(ws)
            if not sockets:
                self._sockets.pop(customer_id, None)

    def connected(self, customer_id: str) -> int:
        return len(self._sockets.get(customer_id, ()))

    async def deliver_all(self, event: dict[str, Any]) -> None:
        for customer_id in list(self._sockets):
            await self.deliver(customer_id, event)

    async def deliver(self, customer_id: str, event: dict[str, Any]) -> None:
        for ws in list(self._sockets.get(customer_id, ())):
            try:
                await ws.send_json(event)
            except Exception:  # a closed socket is dropped; the message itself is stored and shown on reconnect
                self.remove(customer_id, ws)


class LocalPush:
    """Single-process fan-out: shoppers' sockets here, agents through the routing hub's sender."""

    def __init__(self, sockets: CustomerSockets, agent_sender: AgentSender) -> None:
        self.sockets = sockets
        self._agent_sender = agent_sender

    async def to_customer(self, customer_id: str, event: dict[str, Any]) -> None:
        await self.sockets.deliver(customer_id, event)

    async def to_agent(self, agent_id: int, event: dict[str, Any]) -> None:
        await self._agent_sender(agent_id, event)


class RedisPush:
    """Fan-out across gateway replicas: publish to Redis, every replica delivers to the sockets it holds."""

    def __init__(
        self, redis_url: str, sockets: CustomerSockets, agent_sender: AgentSender, namespace: str = "kefu"
    ) -> None:
        import redis.asyncio as aioredis

        self.CHANNEL = f"{namespace}:push:customer"
        self.sockets = sockets
        self._agent_sender = agent_sender
        self._redis = aioredis.from_url(redis_url)
        self._subscription = RedisSubscription(
            self._redis, self.CHANNEL, lambda env: self.sockets.deliver(env["customer_id"], env["event"]),
            on_gap=lambda: self.sockets.deliver_all({"type": "resync"}),  # the chat window re-reads its history
        )

    async def start(self) -> None:
        await self._subscription.start()

    async def stop(self) -> None:
        await self._subscription.stop()
        await self._redis.aclose()

    async def to_customer(self, customer_id: str, event: dict[str, Any]) -> None:
        payload = json.dumps({"customer_id": customer_id, "event": event}, ensure_ascii=False)
        try:
            await self._redis.publish(self.CHANNEL, payload)
        except Exception as exc:  # Redis briefly down: deliver locally at least; the message is stored anyway
            log.warning("redis publish failed (%s); delivering locally only", exc)
            await self.sockets.deliver(customer_id, event)

    async def to_agent(self, agent_id: int, event: dict[str, Any]) -> None:
        await self._agent_sender(agent_id, event)
