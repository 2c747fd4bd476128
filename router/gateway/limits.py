"""Guards at the edge: request body size and a per-customer message rate limit (in-process or shared in Redis)."""

from __future__ import annotations

import time
from collections import deque
from typing import Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from router.gateway.errors import RateLimited


class RateLimiter(Protocol):
    async def check(self, customer_id: str) -> None: ...


class LocalRateLimiter:
    """Sliding window: at most ``limit`` messages per ``window_s`` for one customer, counted in this process."""

    def __init__(self, *, limit: int, window_s: float) -> None:
        self.limit, self.window_s = limit, window_s
        self._hits: dict[str, deque[float]] = {}

    async def check(self, customer_id: str) -> None:
        now = time.monotonic()
        hits = self._hits.setdefault(customer_id, deque())
        while hits and now - hits[0] > self.window_s:
            hits.popleft()
        if len(hits) >= self.limit:
            raise RateLimited(customer_id=customer_id, retry_after_s=self.window_s - (now - hits[0]))
        hits.append(now)
        if len(self._hits) > 100_000:  # forget idle customers so memory stays bounded
            for key in [k for k, v in self._hits.items() if not v or now - v[-1] > self.window_s][:50_000]:
                del self._hits[key]


class RedisRateLimiter:
    """The same limit shared by every gateway replica (fixed window counter in Redis)."""

    def __init__(self, redis_url: str, *, limit: int, window_s: float, namespace: str = "kefu") -> None:
        import redis.asyncio as aioredis

        self.namespace = namespace
        self.limit, self.window_s = limit, window_s
        self._redis = aioredis.from_url(redis_url)

    async def check(self, customer_id: str) -> None:
        window = int(time.time() // self.window_s)
        key = f"{self.namespace}:rate:{customer_id}:{window}"
        try:
            count = await self._redis.incr(key)
            if count == 1:
                await self._redis.expire(key, int(self.window_s) + 1)
        except Exception:  # Redis down: let the message through rather than drop a shopper's words
            return
        if count > self.limit:
            raise RateLimited(customer_id=customer_id, retry_after_s=self.window_s - (time.time() % self.window_s))

    async def aclose(self) -> None:
        await self._redis.aclose()


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes`` with 413 before they are read into memory."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _too_large(send, self.max_bytes)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await _too_large(send, self.max_bytes)


class _BodyTooLarge(Exception):
    pass


async def _too_large(send: Send, max_bytes: int) -> None:
    body = f'{{"detail": "request body larger than {max_bytes} bytes"}}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
