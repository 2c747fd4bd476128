"""Ownership transitions (router/gateway/ownership.py): accept -> agent, transfer / lost agent -> queue, close -> bot
with a survey, the shopper leaving; each stored with what the shopper is told and the follow-up it leaves; and the
agent's reply guard (router/gateway/agent_replies.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from router.conversations.models import Conversation, ConversationEvent, Message
from router.db import session_scope
from router.gateway.agent_replies import AgentReplies
from router.gateway.delivery import Delivery
from router.gateway.errors import ConversationNotFound, NotConversationOwner
from router.gateway.ownership import Followup, Ownership
from router.gateway.rasa_client import RasaClient
from router.gateway.texts import Texts
from router.gateway.transactions import Transactions
from tests.router.gateway.conftest import RecordingPush, add_conversation


class RecordingQueue:
    """The routing engine's side of a shopper leaving (the engine itself is tested in tests/router/routing)."""

    def __init__(self) -> None:
        self.abandoned: list[str] = []

    def enqueue(self, **_: Any) -> None:
        raise AssertionError("ownership changes never enqueue")

    def queue_status(self, conversation_id: str) -> None:
        return None

    def agents_online(self, skill: str | None = None) -> int:
        return 0

    def abandon(self, conversation_id: str) -> None:
        self.abandoned.append(conversation_id)


@pytest.fixture()
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture()
def ownership(sessions: sessionmaker[Session], texts: Texts, delivery: Delivery, queue: RecordingQueue) -> Ownership:
    from tests.procs import free_port  # bound and released: nothing listens there, Rasa is "down"

    rasa = RasaClient(base_url=f"http://127.0.0.1:{free_port()}", token="t", timeout_s=1.0)
    return Ownership(sessions=sessions, tx=Transactions(sessions), rasa=rasa, queue=queue, texts=texts,
                     delivery=delivery)


def state(sessions: sessionmaker[Session], conv_id: str) -> tuple[str, str, int | None, str | None]:
    with session_scope(sessions) as s:
        conv = s.get(Conversation, conv_id)
        assert conv is not None
        return conv.status, conv.owner, conv.agent_id, conv.resolution


def events(sessions: sessionmaker[Session], conv_id: str) -> list[tuple[str, dict[str, Any]]]:
    with session_scope(sessions) as s:
        rows = s.execute(select(ConversationEvent.type, ConversationEvent.data)
                         .where(ConversationEvent.conversation_id == conv_id).order_by(ConversationEvent.id)).all()
        return [(t, d) for t, d in rows]


def test_accept_transfer_accept_close(ownership: Ownership, sessions: sessionmaker[Session], texts: Texts) -> None:
    conv_id = add_conversation(sessions, "o-1", owner="queue")
    joined = ownership.apply_assigned(conversation_id=conv_id, agent_id=1, agent_name="小美")
    assert joined is not None and (joined.owner, joined.pause, joined.resume, joined.survey) == ("agent", True, False,
                                                                                                  False)
    assert [r.text for r in joined.replies] == [texts("agent_joined", agent_name="小美")]
    assert state(sessions, conv_id) == ("open", "agent", 1, None)

    moved = ownership.apply_requeued(conversation_id=conv_id)
    assert moved is not None and moved.owner == "queue" and moved.replies[0].text == texts("agent_transferred")
    assert state(sessions, conv_id) == ("open", "queue", None, None)

    ownership.apply_assigned(conversation_id=conv_id, agent_id=2, agent_name="小王")
    closed = ownership.apply_closed(conversation_id=conv_id, agent_id=2)
    assert closed is not None and (closed.owner, closed.resume, closed.survey) == ("bot", True, True)
    assert [r.text for r in closed.replies] == [texts("agent_left"), texts("survey")]
    assert state(sessions, conv_id) == ("closed", "bot", 2, "agent")
    with session_scope(sessions) as s:
        conv = s.get(Conversation, conv_id)
        assert conv is not None and conv.survey_pending and conv.closed_at is not None

    assigned = [d for t, d in events(sessions, conv_id) if t == "assigned"]
    assert [(d["agent_id"], d["first"]) for d in assigned] == [(1, True), (2, False)]  # first assignment counts once
    assert [t for t, _ in events(sessions, conv_id)] == ["assigned", "transferred", "assigned", "closed"]


def test_a_lost_agent_requeues_with_its_own_words(ownership: Ownership, sessions: sessionmaker[Session],
                                                  texts: Texts) -> None:
    conv_id = add_conversation(sessions, "o-2", owner="agent", agent_id=3)
    lost = ownership.apply_requeued(conversation_id=conv_id, reason="agent_lost")
    assert lost is not None and lost.replies[0].text == texts("agent_lost_requeued")
    assert events(sessions, conv_id) == [("requeued", {"reason": "agent_lost"})]


def test_a_closed_or_unknown_conversation_does_not_change(ownership: Ownership,
                                                          sessions: sessionmaker[Session]) -> None:
    conv_id = add_conversation(sessions, "o-3", status="closed", owner="bot")
    assert ownership.apply_assigned(conversation_id=conv_id, agent_id=1, agent_name="小美") is None
    assert ownership.apply_requeued(conversation_id=conv_id) is None
    assert ownership.apply_closed(conversation_id="no-such", agent_id=1) is None
    assert state(sessions, conv_id) == ("closed", "bot", None, None)
    assert events(sessions, conv_id) == []


def test_the_follow_up_pushes_the_replies_then_the_survey_even_when_rasa_is_down(
    ownership: Ownership, sessions: sessionmaker[Session], push: RecordingPush
) -> None:
    conv_id = add_conversation(sessions, "o-4", owner="agent", agent_id=1)
    followup = ownership.apply_closed(conversation_id=conv_id, agent_id=1)
    asyncio.run(ownership.follow_up(followup))
    assert [(c, e["type"]) for c, e in push.customers] == [("o-4", "reply"), ("o-4", "reply"), ("o-4", "survey")]
    asyncio.run(ownership.follow_up(None))
    asyncio.run(ownership.follow_up(Followup("o-4", conv_id, "agent", [], pause=True)))  # pausing fails quietly
    assert len(push.customers) == 3


def test_the_shopper_leaving_abandons_a_queued_conversation(
    ownership: Ownership, sessions: sessionmaker[Session], queue: RecordingQueue
) -> None:
    queued = add_conversation(sessions, "o-5", owner="queue")
    assert asyncio.run(ownership.shopper_left(conversation_id=queued, owned_by=lambda c: c == "o-5")) is True
    assert state(sessions, queued) == ("closed", "queue", None, "abandoned") and queue.abandoned == [queued]
    chatting = add_conversation(sessions, "o-5")
    assert asyncio.run(ownership.shopper_left(conversation_id=chatting)) is False
    assert state(sessions, chatting)[3] == "bot" and queue.abandoned == [queued]
    assert asyncio.run(ownership.shopper_left(conversation_id=chatting)) is False  # already closed
    with pytest.raises(ConversationNotFound):
        asyncio.run(ownership.shopper_left(conversation_id=chatting, owned_by=lambda c: False))
    with pytest.raises(ConversationNotFound):
        asyncio.run(ownership.shopper_left(conversation_id="no-such", owned_by=lambda c: True))


def test_only_the_owning_agent_may_reply(sessions: sessionmaker[Session], texts: Texts, delivery: Delivery,
                                         push: RecordingPush) -> None:
    replies = AgentReplies(tx=Transactions(sessions), texts=texts, delivery=delivery)
    conv_id = add_conversation(sessions, "o-6", owner="agent", agent_id=1)
    # the same agent id, but queued again (her offer is pending) or closed: she no longer serves it
    queued = add_conversation(sessions, "o-7", owner="queue", agent_id=1)
    closed = add_conversation(sessions, "o-8", owner="agent", agent_id=1, status="closed")
    with pytest.raises(ConversationNotFound):
        asyncio.run(replies.chat(conversation_id="no-such", agent_id=1, text="您好"))
    for conv, agent in ((conv_id, 2), (queued, 1), (closed, 1)):
        with pytest.raises(NotConversationOwner):
            asyncio.run(replies.chat(conversation_id=conv, agent_id=agent, text="您好"))
    sent = asyncio.run(replies.chat(conversation_id=conv_id, agent_id=1, text="您好，我来帮您看看"))
    asyncio.run(replies.chat(conversation_id=conv_id, agent_id=1, text="已经帮您催了"))
    assert sent.sender == "agent" and push.customers[0][1]["reply"]["text"] == "您好，我来帮您看看"
    assert [t for t, _ in events(sessions, conv_id)] == ["agent_first_reply"]
    with session_scope(sessions) as s:
        assert s.scalars(select(Message.agent_id).where(Message.conversation_id == conv_id)).all() == [1, 1]
