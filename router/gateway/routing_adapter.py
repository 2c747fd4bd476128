"""The skill-based routing engine seen through the gateway's ``HandoffQueue`` port, and its events turned into
gateway actions (agent accepted -> agent owns the conversation; closed -> bot again + survey; transferred -> queue)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from router.gateway.ports import QueuePlace
from router.routing.errors import AlreadyQueued, NoAgentOnline, RoutingError, UnknownConversation
from router.routing.models import ItemState, RoutingEvent
from router.routing.protocol import RoutingEngineProtocol
from router.tasks import TaskSet

if TYPE_CHECKING:
    from router.gateway.service import GatewayService

log = logging.getLogger(__name__)
ROUTING_CHANNEL = "chat"  # web, app and mini-program all count against an agent's chat capacity


class EngineQueue:
    def __init__(
        self, engine: RoutingEngineProtocol, *, closed_hours: Callable[[str], str | None] | None = None
    ) -> None:
        self.engine = engine
        # skill -> the group's working hours when it is closed right now (None: open); see router.supervision.team
        self.closed_hours = closed_hours

    def enqueue(
        self,
        *,
        conversation_id: str,
        customer_id: str,
        channel: str,
        skill: str,
        priority: int,
        reason: str,
        card: dict[str, Any] | None = None,
    ) -> None:
        """``card``: what the agent's offer card shows besides the routing fields (last message, VIP, mood)."""
        off_hours = self.closed_hours(skill) if self.closed_hours is not None else None
        if off_hours is not None:
            raise NoAgentOnline(skill=skill, off_hours=off_hours)
        try:
            self.engine.enqueue(
                conversation_id=conversation_id,
                customer_id=customer_id,
                skill=skill,
                priority=priority,
                channel=ROUTING_CHANNEL,
                reason=reason,
                context={**(card or {}), "channel": channel},
            )
        except AlreadyQueued:  # a second trigger for a conversation already waiting: one queue entry is enough
            pass

    def queue_status(self, conversation_id: str) -> QueuePlace | None:
        try:
            status = self.engine.status_of(conversation_id)
        except UnknownConversation:
            return None
        if status.state is not ItemState.waiting and status.state is not ItemState.offered:
            return None
        return QueuePlace(position=max(status.position, 1), eta_s=status.eta_s)

    def agents_online(self, skill: str | None = None) -> int:
        return self.engine.agents_online(skill)

    def abandon(self, conversation_id: str) -> None:
        try:
            self.engine.abandon(conversation_id)
        except RoutingError as exc:  # already closed or never queued: nothing to abandon
            log.info("abandon %s ignored: %s", conversation_id, exc)


def bridge_events(
    engine: RoutingEngineProtocol,
    loop: asyncio.AbstractEventLoop,
    gateway: GatewayService,
    agent_name: Callable[[int], str],
) -> Callable[[], None]:
    """Subscribe the gateway to the engine.

    The ownership change is written synchronously in the engine's callback (the accept/close call returns only after
    the gateway routes by the new owner); pushes and Rasa pause/resume follow on ``loop``.
    """

    followups = TaskSet("gateway reaction to a routing event")

    def on_event(event: RoutingEvent) -> None:
        conv = event.conversation_id
        try:
            if event.type == "assigned" and event.agent_id is not None:
                followup = gateway.apply_assigned(
                    conversation_id=conv, agent_id=event.agent_id, agent_name=agent_name(event.agent_id)
                )
            elif event.type == "closed":
                followup = gateway.apply_closed(conversation_id=conv, agent_id=event.agent_id)
            elif event.type == "transferred":
                followup = gateway.apply_requeued(conversation_id=conv, reason=event.data.get("reason"))
            else:
                return
        except Exception:  # never break the routing engine's operation because the gateway's bookkeeping failed
            log.exception("gateway could not apply routing event %s for %s", event.type, conv)
            return
        if followup is None:
            return

        followups.spawn_threadsafe(loop, lambda: gateway.follow_up(followup))

    return engine.events.subscribe(on_event)

