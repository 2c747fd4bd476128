"""Live monitoring for supervisors: every open conversation with its owner, wait, sentiment and SLA state; a read-only
transcript; whispers (notes only the agent sees), barge-in and re-routing through the routing engine's public
methods.  Every action is written to the audit trail.

A whisper is a ``whisper`` conversation event, never a message: the shopper's history and pushes read messages only,
so the shopper cannot see it whatever page or channel they use.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from router.clock import aware
from router.conversations.models import Conversation, ConversationEvent, Message
from router.db import session_scope
from router.routing.errors import RoutingError
from router.routing.models import ItemState
from router.routing.protocol import RoutingEngineProtocol
from router.routing.tables import User
from router.supervision.team import audit

BOT_ACTIVE_WINDOW = timedelta(minutes=30)  # bot conversations quieter than this are not "live" any more


class LiveError(RoutingError):
    status = 409
    message_zh = "操作未能完成，请刷新后再试。"


class NotLive(LiveError):
    status = 404
    message_zh = "该会话已结束或不存在。"

    def __init__(self, conversation_id: str) -> None:
        super().__init__(f"conversation {conversation_id} is not live", conversation_id=conversation_id)


class NoAgentHolds(LiveError):
    message_zh = "该会话当前没有客服接待（可能仍在排队），无法执行此操作。"

    def __init__(self, conversation_id: str) -> None:
        super().__init__(f"no agent holds {conversation_id}", conversation_id=conversation_id)


class SupervisorNotReady(LiveError):
    message_zh = "请先在客服工作台上线，并保留至少一个空闲接待名额，再接管会话。"

    def __init__(self, supervisor_id: int) -> None:
        super().__init__(f"supervisor {supervisor_id} is not online with free capacity", supervisor_id=supervisor_id)


class LiveConversation(BaseModel):
    conversation_id: str
    customer_id: str
    channel: str
    owner: str  # bot | queue | agent
    state: str | None  # routing state: waiting | offered | assigned (None for the bot)
    agent_id: int | None
    agent_name: str | None
    skill: str | None
    priority: int
    started_at: datetime
    wait_s: float  # queue: since the hand-off; agent: since the shopper's oldest unanswered message; bot: 0
    sentiment: str | None  # label of the shopper's last message
    anger: float | None
    sla: str  # ok | breached


class TranscriptLine(BaseModel):
    kind: str  # message | whisper
    sender: str
    text: str
    created_at: datetime
    agent_id: int | None = None
    sentiment: str | None = None


class WhisperIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=1000)


class RerouteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_skill: str | None = Field(default=None, max_length=32)
    to_agent_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    note: str | None = Field(default=None, max_length=500)


def live_conversations(
    *, sessions: sessionmaker[Session], engine: RoutingEngineProtocol, queue_sla_s: float, reply_sla_s: float,
    now: datetime | None = None,
) -> list[LiveConversation]:
    """Open conversations owned by the queue or an agent, and bot conversations active in the last 30 minutes;
    breached SLAs first, then longest wait."""
    moment = aware(now) if now else datetime.now(UTC)
    with sessions() as s:
        convs = s.scalars(select(Conversation).where(
            Conversation.status == "open",
            (Conversation.owner != "bot") | (Conversation.updated_at >= moment - BOT_ACTIVE_WINDOW),
        )).all()
        ids = [c.id for c in convs]
        last_in: dict[str, tuple[str | None, float | None]] = {}
        unanswered: dict[str, datetime] = {}
        for cid, direction, sender, label, anger, at in s.execute(
            select(Message.conversation_id, Message.direction, Message.sender, Message.sentiment_label,
                   Message.anger, Message.created_at).where(Message.conversation_id.in_(ids)).order_by(Message.id)
        ):
            if direction == "in":
                last_in[cid] = (label, anger)
                unanswered.setdefault(cid, aware(at))
            elif sender == "agent":
                unanswered.pop(cid, None)
        names = dict(s.execute(select(User.id, User.display_name)).all())
        rows = []
        for c in convs:
            item = engine.items.get(c.id)
            state = item.state.value if item is not None else None
            agent_id = item.agent_id if item is not None and item.state is ItemState.assigned else c.agent_id
            if c.owner == "queue" and c.handed_off_at is not None:
                wait = (moment - aware(c.handed_off_at)).total_seconds()
                breached = wait > queue_sla_s
            elif c.owner == "agent" and c.id in unanswered:
                wait = (moment - unanswered[c.id]).total_seconds()
                breached = wait > reply_sla_s
            else:
                wait, breached = 0.0, False
            label, anger = last_in.get(c.id, (None, None))
            rows.append(LiveConversation(
                conversation_id=c.id, customer_id=c.customer_id, channel=c.channel, owner=c.owner, state=state,
                agent_id=agent_id if c.owner == "agent" else None,
                agent_name=names.get(agent_id) if c.owner == "agent" and agent_id else None,
                skill=item.skill if item is not None else c.required_skill, priority=c.priority or 0,
                started_at=aware(c.created_at), wait_s=round(max(0.0, wait), 1), sentiment=label, anger=anger,
                sla="breached" if breached else "ok",
            ))
    return sorted(rows, key=lambda r: (r.sla != "breached", r.owner == "bot", -r.wait_s))


def transcript(*, sessions: sessionmaker[Session], conversation_id: str) -> list[TranscriptLine]:
    """Messages and whispers of one conversation in time order (read-only view for supervisors)."""
    with sessions() as s:
        if s.get(Conversation, conversation_id) is None:
            raise NotLive(conversation_id)
        lines = [
            TranscriptLine(kind="message", sender=m.sender, text=m.text, created_at=aware(m.created_at),
                           agent_id=m.agent_id, sentiment=m.sentiment_label)
            for m in s.scalars(select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id))
        ]
        for e in s.scalars(select(ConversationEvent).where(ConversationEvent.conversation_id == conversation_id,
                                                             ConversationEvent.type == "whisper")):
            data = e.data or {}
            lines.append(TranscriptLine(kind="whisper", sender="supervisor", text=str(data.get("text", "")),
                                        created_at=aware(e.created_at), agent_id=data.get("agent_id")))
    return sorted(lines, key=lambda x: x.created_at)


def _holder(engine: RoutingEngineProtocol, conversation_id: str) -> int:
    item = engine.items.get(conversation_id)
    if item is None or item.state is not ItemState.assigned or item.agent_id is None:
        raise NoAgentHolds(conversation_id)
    return item.agent_id


def whisper(
    *, sessions: sessionmaker[Session], engine: RoutingEngineProtocol, supervisor_id: int, supervisor_name: str,
    conversation_id: str, text: str,
) -> dict[str, Any]:
    """Store a whisper for the agent holding the conversation; returns the event to push to that agent only."""
    agent_id = _holder(engine, conversation_id)
    now = datetime.now(UTC)
    with session_scope(sessions) as s:
        conv = s.get(Conversation, conversation_id)
        if conv is None or conv.status != "open":
            raise NotLive(conversation_id)
        event = ConversationEvent(conversation_id=conversation_id, type="whisper", channel=conv.channel,
                                  data={"text": text, "supervisor_id": supervisor_id, "agent_id": agent_id},
                                  created_at=now)
        s.add(event)
        audit(s, actor_id=supervisor_id, action="whisper", target=conversation_id, agent_id=agent_id, text=text)
        s.flush()
        event_id = event.id
    return {"type": "whisper", "id": event_id, "conversation_id": conversation_id, "text": text,
            "agent_id": agent_id, "from": supervisor_name, "created_at": now.isoformat()}


def barge_in(
    *, sessions: sessionmaker[Session], engine: RoutingEngineProtocol, supervisor_id: int, conversation_id: str,
) -> int:
    """The supervisor takes the conversation over from its agent (transfer to them, accepted at once).

    Returns the agent who held it.  The supervisor must be online in the agent console with a free place."""
    agent_id = _holder(engine, conversation_id)
    if agent_id == supervisor_id:
        raise LiveError("you hold this conversation already", conversation_id=conversation_id)
    try:
        sup = engine.get_agent(supervisor_id)
    except RoutingError as exc:
        raise SupervisorNotReady(supervisor_id) from exc
    item = engine.items[conversation_id]
    if not sup.available or sup.free(item.channel) <= 0:
        raise SupervisorNotReady(supervisor_id)
    engine.transfer(conversation_id, agent_id, to_agent_id=supervisor_id, note="主管接管")
    offer = next((o for o in engine.offers_for(supervisor_id) if o.conversation_id == conversation_id), None)
    if offer is None:  # the transfer's direct offer went elsewhere (should not happen): leave it to routing
        raise LiveError("the take-over offer is gone", conversation_id=conversation_id)
    engine.accept(offer.id, supervisor_id)
    with session_scope(sessions) as s:
        audit(s, actor_id=supervisor_id, action="barge_in", target=conversation_id, from_agent_id=agent_id)
    return agent_id


def reroute(
    *, sessions: sessionmaker[Session], engine: RoutingEngineProtocol, supervisor_id: int, conversation_id: str,
    body: RerouteIn,
) -> str:
    """Move a conversation: an agent's goes to another skill group or agent (transfer with a note); a pending offer
    is withdrawn so routing offers it again.  Returns what was done (``transferred`` | ``rescinded``)."""
    item = engine.items.get(conversation_id)
    if item is None:
        raise NotLive(conversation_id)
    if item.state is ItemState.assigned and item.agent_id is not None:
        if body.to_skill is None and body.to_agent_id is None:
            raise LiveError("give a target skill or agent", conversation_id=conversation_id)
        engine.transfer(conversation_id, item.agent_id, to_agent_id=body.to_agent_id, to_skill=body.to_skill,
                        note=body.note or "主管重新分配")
        done = "transferred"
    elif item.state is ItemState.offered:
        offer = next((o for o in engine.offers.pending.values() if o.conversation_id == conversation_id), None)
        if offer is None:
            raise NotLive(conversation_id)
        engine.rescind(offer.id)
        done = "rescinded"
    else:
        raise NoAgentHolds(conversation_id)
    with session_scope(sessions) as s:
        audit(s, actor_id=supervisor_id, action="reroute", target=conversation_id, done=done,
              to_skill=body.to_skill, to_agent_id=body.to_agent_id, note=body.note)
    return done
