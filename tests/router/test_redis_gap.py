"""Pushes across replicas go through Redis pub/sub, which keeps nothing: a message published while Redis restarts is
lost to every subscriber.  After its subscription is back, each replica tells the sockets it holds to re-read
(``resync``), so the console and the chat window show what was stored meanwhile (found by the fault suite: a
shopper's message sent during a Redis restart never reached the agent who owned the conversation)."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from router.cluster import RedisHub
from router.gateway.push import CustomerSockets, RedisPush
from tests.procs import RedisServer

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def redis_server(tmp_path: Path) -> Any:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed: `make services` installs it (`make test` does so first)")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


class FakeSocket:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_json(self, data: dict[str, Any]) -> None:
        self.sent.append(data)


async def _restart(server: RedisServer) -> None:
    await asyncio.to_thread(server.stop)
    await asyncio.sleep(2.0)
    await asyncio.to_thread(server.start)


async def _until(check: Any, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "no resync within the time limit"
        await asyncio.sleep(0.1)


def test_agent_sockets_are_told_to_resync_after_redis_restarts(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        hub = RedisHub(redis_server.url, namespace="gap-test")
        await hub.start()
        try:
            queue = hub.connect(7)
            await hub.send_to_agent(7, {"type": "message", "text": "before"})
            assert (await asyncio.wait_for(queue.get(), 5))["text"] == "before"
            await _restart(redis_server)
            await _until(lambda: not queue.empty())
            assert queue.get_nowait() == {"type": "resync"}
            # and the subscription works again
            await hub.send_to_agent(7, {"type": "message", "text": "after"})
            assert (await asyncio.wait_for(queue.get(), 5))["text"] == "after"
        finally:
            await hub.stop()

    asyncio.run(scenario())


def test_shopper_sockets_are_told_to_resync_after_redis_restarts(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        sockets = CustomerSockets()

        async def no_agent(agent_id: int, event: dict[str, Any]) -> None:
            raise AssertionError("not used")

        push = RedisPush(redis_server.url, sockets, no_agent, namespace="gap-test")
        await push.start()
        try:
            ws = FakeSocket()
            sockets.add("c-1", ws)  # type: ignore[arg-type]
            await _restart(redis_server)
            await _until(lambda: {"type": "resync"} in ws.sent)
            await push.to_customer("c-1", {"type": "reply", "text": "after"})
            await _until(lambda: {"type": "reply", "text": "after"} in ws.sent, 5)
        finally:
            await push.stop()

    asyncio.run(scenario())


def test_no_resync_without_a_gap(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        hub = RedisHub(redis_server.url, namespace="gap-test")
        await hub.start()
        try:
            queue = hub.connect(3)
            await asyncio.sleep(1.5)
            assert queue.empty()
        finally:
            await hub.stop()

    asyncio.run(scenario())
