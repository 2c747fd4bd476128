"""Relaying one bot turn (router/gateway/relay.py): payload events recorded, the fallback streak counted and reset,
replies stored and pushed, and a handoff the bot asked for followed to the queue or to the leave-a-message offer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from router.conversations.models import Conversation, ConversationEvent, Message
from router.db import session_scope
from router.gateway.anger import AngerPolicy
from router.gateway.delivery import Delivery
from router.gateway.errors import NoAgentOnline
from router.gateway.handoff import Handoffs
from router.gateway.ports import QueuePlace
from router.gateway.rasa_client import RasaClient
from router.gateway.relay import BotRelay, read_bot_turn
from router.gateway.texts import Texts, format_eta
from router.gateway.transactions import Transactions
from tests.router.gateway.conftest import RecordingPush, add_conversation


class Queue:
    """The routing engine's port, recording what it is given; ``online=False`` answers like an empty team."""

    def __init__(self, *, online: bool = True, position: int = 3) -> None:
        self.online, self.position = online, position
        self.enqueued: list[dict[str, Any]] = []

    def enqueue(self, **entry: Any) -> None:
        if not self.online:
            raise NoAgentOnline(skill=entry["skill"])
        self.enqueued.append(entry)

    def queue_status(self, conversation_id: str) -> QueuePlace | None:
        return QueuePlace(position=self.position, eta_s=150.0)

    def agents_online(self, skill: str | None = None) -> int:
        return 1 if self.online else 0

    def abandon(self, conversation_id: str) -> None:
        raise AssertionError("relaying never abandons")


def relay_for(sessions: sessionmaker[Session], queue: Queue, texts: Texts, push: RecordingPush) -> BotRelay:
    from tests.procs import free_port  # bound and released: nothing listens there

    tx, delivery, anger = Transactions(sessions), Delivery(push, None), AngerPolicy()
    handoffs = Handoffs(tx=tx, queue=queue, anger=anger, texts=texts, delivery=delivery, history_for_sentiment=5)
    rasa = RasaClient(base_url=f"http://127.0.0.1:{free_port()}", token="t", timeout_s=1.0)
    return BotRelay(tx=tx, rasa=rasa, queue=queue, anger=anger, texts=texts, delivery=delivery, handoffs=handoffs)


def fallbacks(sessions: sessionmaker[Session], conv_id: str) -> int:
    with session_scope(sessions) as s:
        conv = s.get(Conversation, conv_id)
        assert conv is not None
        return conv.consecutive_fallbacks


@pytest.fixture()
def queue() -> Queue:
    return Queue()


def test_the_fallback_streak_counts_up_and_any_other_answer_resets_it(
    sessions: sessionmaker[Session], queue: Queue, texts: Texts, push: RecordingPush
) -> None:
    relay = relay_for(sessions, queue, texts, push)
    conv_id = add_conversation(sessions, "r-1")
    not_understood = read_bot_turn([{"text": "抱歉，我没太明白。"}, {"custom": {"kefu": "fallback", "count": 1}}])
    for _ in range(2):
        outcome = asyncio.run(relay.deliver_turn(conv_id, "r-1", not_understood, "嗯嗯啊啊"))
        assert outcome.owner == "bot" and [r.text for r in outcome.replies] == ["抱歉，我没太明白。"]
    assert fallbacks(sessions, conv_id) == 2
    answered = read_bot_turn([{"text": "退款一般 1-3 个工作日到账。"}, {"custom": {
        "kefu": "faq", "decision": "answer", "faq_id": "refund_time", "score": 0.91, "alternatives": []}}])
    asyncio.run(relay.deliver_turn(conv_id, "r-1", answered, "退款多久到账"))
    assert fallbacks(sessions, conv_id) == 0
    with session_scope(sessions) as s:
        rows = s.execute(select(ConversationEvent.type, ConversationEvent.data)
                         .where(ConversationEvent.conversation_id == conv_id).order_by(ConversationEvent.id)).all()
        assert [t for t, _ in rows] == ["fallback", "bot_reply", "fallback", "bot_reply", "faq", "bot_reply"]
        assert rows[4][1] == {"decision": "answer", "faq_id": "refund_time", "score": 0.91, "alternatives": []}
        assert s.scalars(select(Message.sender).where(Message.conversation_id == conv_id)).all() == ["bot"] * 3
    assert [e["type"] for _, e in push.customers] == ["reply"] * 3


def test_a_handoff_the_bot_asked_for_goes_to_the_queue_with_its_skill_and_floor(
    sessions: sessionmaker[Session], queue: Queue, texts: Texts, push: RecordingPush
) -> None:
    relay = relay_for(sessions, queue, texts, push)
    conv_id = add_conversation(sessions, "r-2")
    turn = read_bot_turn([{"text": "好的，正在为您转接人工客服。"}, {"custom": {
        "kefu": "handoff", "skill": "billing", "priority": 6, "reason": "request_human", "order_id": None,
        "intent": "invoice_request"}}])
    outcome = asyncio.run(relay.deliver_turn(conv_id, "r-2", turn, "发票开错了，我要找人工"))
    [entry] = queue.enqueued
    assert (entry["skill"], entry["reason"], entry["customer_id"]) == ("billing", "request_human", "r-2")
    assert entry["priority"] >= 6  # the bot's priority is a floor
    assert outcome.owner == "queue" and outcome.queue == QueuePlace(position=3, eta_s=150.0)
    assert [r.text for r in outcome.replies] == [
        "好的，正在为您转接人工客服。", texts("queued", position=2, eta=format_eta(150.0))
    ]
    with session_scope(sessions) as s:
        conv = s.get(Conversation, conv_id)
        assert conv is not None
        assert (conv.owner, conv.required_skill, conv.handoff_reason) == ("queue", "billing", "request_human")


def test_with_nobody_online_the_shopper_is_offered_to_leave_a_message(
    sessions: sessionmaker[Session], texts: Texts, push: RecordingPush
) -> None:
    relay = relay_for(sessions, Queue(online=False), texts, push)
    conv_id = add_conversation(sessions, "r-3")
    turn = read_bot_turn([{"custom": {"kefu": "handoff", "skill": "logistics", "priority": 2,
                                      "reason": "request_human", "order_id": None, "intent": "request_human"}}])
    outcome = asyncio.run(relay.deliver_turn(conv_id, "r-3", turn, "转人工"))
    assert outcome.owner == "bot" and outcome.queue is None
    assert [r.text for r in outcome.replies] == [texts("no_agent_online")]
    with session_scope(sessions) as s:
        conv = s.get(Conversation, conv_id)
        assert conv is not None and conv.handoff_reason == "leave_message"


@pytest.mark.parametrize(("position", "told"), [(1, "您是下一位"), (3, "您前面还有 2 位")])
def test_a_queued_shopper_who_writes_again_hears_the_same_place(
    sessions: sessionmaker[Session], texts: Texts, push: RecordingPush, position: int, told: str
) -> None:
    """Found through `make run` (2026-12-07): alone in the queue, the shopper was told "您是下一位" when queued, then,
    writing again, "您前面还有 1 位" (her place was given as the number of shoppers ahead of her)."""
    queue = Queue(position=position)
    relay = relay_for(sessions, queue, texts, push)
    conv_id = add_conversation(sessions, "r-9")
    queued = asyncio.run(relay.deliver_turn(conv_id, "r-9", read_bot_turn([{"custom": {
        "kefu": "handoff", "skill": "general", "priority": 3, "reason": "request_human", "order_id": None,
        "intent": "request_human"}}]), "转人工"))
    again, place = asyncio.run(relay.handoffs.still_queued(conv_id, "r-9"))
    assert place == QueuePlace(position=position, eta_s=150.0)
    assert told in queued.replies[-1].text and told in again[0].text, (queued.replies, again)
