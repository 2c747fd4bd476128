"""Push of events to connected agents, and agents' chat messages to whoever handles them (the gateway).

:class:`AgentHub` is the interface; :class:`LocalHub` delivers within one process.  A Redis pub/sub hub can
implement the same interface for several replicas (publish on ``send_to_agent``, deliver to local sockets).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from router.routing.models import RoutingEvent
from router.routing.protocol import RoutingEngineProtocol

log = logging.getLogger(__name__)
AgentMessageHandler = Callable[[int, str, str], Awaitable[Any]]  # (agent id, conversation id, text)
QUEUE_LIMIT = 1000
# pushes may have been lost (Redis was away): re-read offers, conversations and transcripts from the API
RESYNC: dict[str, Any] = {"type": "resync"}


class NoMessageHandler(Exception):
    """Nothing is registered to receive agents' chat messages (the gateway is not mounted)."""


class AgentHub(Protocol):
    def connect(self, agent_id: int) -> asyncio.Queue[dict[str, Any]]: ...
    def disconnect(self, agent_id: int, queue: asyncio.Queue[dict[str, Any]]) -> None: ...
    def connected(self, agent_id: int) -> int: ...
    async def send_to_agent(self, agent_id: int, event: dict[str, Any]) -> None: ...
    def on_agent_message(self, handler: AgentMessageHandler) -> None: ...
    async def agent_message(self, agent_id: int, conversation_id: str, text: str) -> Any: ...


class LocalHub:
    """In-process hub: one bounded asyncio queue per connected agent socket."""

    def __init__(self) -> None:
        self._queues: dict[int, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)
        self._handlers: list[AgentMessageHandler] = []

    def connect(self, agent_id: int) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_LIMIT)
        self._queues[agent_id].add(queue)
        return queue

    def disconnect(self, agent_id: int, queue: asyncio.Queue[dict[str, Any]]) -> None:
        queues = self._queues.get(agent_id)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._queues[agent_id]

    def connected(self, agent_id: int) -> int:
        return len(self._queues.get(agent_id, ()))

    def deliver_nowait(self, agent_id: int, event: dict[str, Any]) -> None:
        for queue in list(self._queues.get(agent_id, ())):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:  # a stuck socket; the agent UI re-reads its offers on reconnect
                log.warning("dropping event for agent %s: socket queue full", agent_id)

    async def send_to_agent(self, agent_id: int, event: dict[str, Any]) -> None:
        self.deliver_nowait(agent_id, event)

    def resync_all(self) -> None:
        """Tell every socket of this process that pushes may have been lost: the console re-reads its state."""
        for agent_id in list(self._queues):
            self.deliver_nowait(agent_id, RESYNC)

    def on_agent_message(self, handler: AgentMessageHandler) -> None:
        self._handlers.append(handler)

    async def agent_message(self, agent_id: int, conversation_id: str, text: str) -> Any:
        if not self._handlers:
            raise NoMessageHandler()
        result: Any = None
        for handler in self._handlers:
            result = await handler(agent_id, conversation_id, text)
        return result


def bridge_engine_to_hub(
    engine: RoutingEngineProtocol, hub: AgentHub, loop: asyncio.AbstractEventLoop
) -> Callable[[], None]:
    """Forward every engine event addressed to an agent to that agent's sockets (engine threads -> ``loop``)."""

    def on_event(event: RoutingEvent) -> None:
        if event.agent_id is None or event.type == "queued":
            return
        wire = event.to_wire()
        agent_id = event.agent_id

        def send() -> None:
            loop.create_task(hub.send_to_agent(agent_id, wire)).add_done_callback(_log_failure)

        try:
            loop.call_soon_threadsafe(send)
        except RuntimeError:  # loop closed during shutdown
            pass

    return engine.events.subscribe(on_event)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("push to agent failed", exc_info=task.exception())
