"""The skill-based routing engine seen through the gateway's ``HandoffQueue`` port, and its events turned into
gateway actions (agent accepted -> agent owns the conversation; closed -> bot again + survey; transferred -> queue)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from router.gateway.ports import NoAgentsOnline, QueueStatus
from router.routing.engine import RoutingEngine
from router.routing.errors import AlreadyQueued, NoAgentOnline, RoutingError, UnknownConversation
from router.routing.models import ItemState, RoutingEvent

log = logging.getLogger(__name__)
ROUTING_CHANNEL = "chat"  # web, app and mini-program all count against an agent's chat capacity


class EngineQueue:
    def __init__(self, engine: RoutingEngine) -> None:
        self.engine = engine

    def enqueue(
        self, *, conversation_id: str, customer_id: str, channel: str, skill: str, priority: int, reason: str
    ) -> None:
        try:
            self.engine.enqueue(
                conversation_id=conversation_id,
                customer_id=customer_id,
                skill=skill,
                priority=priority,
                channel=ROUTING_CHANNEL,
                reason=reason,
                context={"channel": channel},
            )
        except NoAgentOnline as exc:
            raise NoAgentsOnline(skill=skill) from exc
        except AlreadyQueued:  # a second trigger for a conversation already waiting: one queue entry is enough
            pass

    def queue_status(self, conversation_id: str) -> QueueStatus | None:
        try:
            status = self.engine.status_of(conversation_id)
        except UnknownConversation:
            return None
        if status.state is not ItemState.waiting and status.state is not ItemState.offered:
            return None
        return QueueStatus(position=max(status.position, 1), eta_s=status.eta_s)

    def agents_online(self, skill: str | None = None) -> int:
        return self.engine.agents_online(skill)

    def abandon(self, conversation_id: str) -> None:
        try:
            self.engine.abandon(conversation_id)
        except RoutingError as exc:  # already closed or never queued: nothing to abandon
            log.info("abandon %s ignored: %s", conversation_id, exc)


def bridge_events(
    engine: RoutingEngine,
    loop: asyncio.AbstractEventLoop,
    *,
    on_assigned: Callable[[str, int], object],
    on_closed: Callable[[str, int | None], object],
    on_requeued: Callable[[str], object],
) -> Callable[[], None]:
    """Subscribe to the engine; engine callbacks run in any thread, gateway coroutines run on ``loop``."""

    def schedule(coro_factory: Callable[[], object]) -> None:
        def run() -> None:
            result = coro_factory()
            if asyncio.iscoroutine(result):
                task = loop.create_task(result)
                task.add_done_callback(_log_failure)

        loop.call_soon_threadsafe(run)

    def on_event(event: RoutingEvent) -> None:
        if event.type == "assigned" and event.agent_id is not None:
            agent_id = event.agent_id
            schedule(lambda: on_assigned(event.conversation_id, agent_id))
        elif event.type == "closed":
            schedule(lambda: on_closed(event.conversation_id, event.agent_id))
        elif event.type == "transferred":
            schedule(lambda: on_requeued(event.conversation_id))

    return engine.events.subscribe(on_event)


def _log_failure(task: asyncio.Task[object]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("gateway reaction to a routing event failed", exc_info=task.exception())
