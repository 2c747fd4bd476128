"""Persisting an inbound message (router/gateway/inbound.py): the typed result of a message still to be routed, a
retried duplicate, a clicked button stored as the shopper saw it, a channel switch; and the transaction helpers
(router/gateway/transactions.py) it runs under."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from router.clock import utcnow
from router.conversations.models import Conversation, ConversationEvent, Customer, Message
from router.db import session_scope
from router.gateway.delivery import Delivery
from router.gateway.inbound import InboundStore, Persisted, StoredInbound
from router.gateway.left_messages import LeftMessages
from router.gateway.messages import ShopperMessages
from router.gateway.outcome import Outcome
from router.gateway.schemas import InboundMessage
from router.gateway.surveys import Surveys
from router.gateway.texts import Texts
from router.gateway.transactions import CustomerLocks, Transactions
from router.sentiment import SentimentAnalyzer
from router.tickets.service import TicketService
from tests.router.gateway.conftest import RecordingPush


@pytest.fixture()
def store(sessions: sessionmaker[Session], analyzer: SentimentAnalyzer, texts: Texts) -> InboundStore:
    tx, shopper_messages = Transactions(sessions), ShopperMessages(analyzer)
    return InboundStore(
        tx=tx,
        sentiment=analyzer,
        shopper_messages=shopper_messages,
        surveys=Surveys(
            tx=tx, shopper_messages=shopper_messages, texts=texts, delivery=Delivery(RecordingPush(), None)
        ),
        left_messages=LeftMessages(shopper_messages=shopper_messages, texts=texts, tickets=TicketService(sessions),
                                   window_s=1800),
        history_for_sentiment=5,
    )


def persist(store: InboundStore, sessions: sessionmaker[Session], customer: str, text: str, *,
            channel: str = "web", client_msg_id: str | None = None) -> Persisted:
    inbound = InboundMessage(channel=channel, customer_id=customer, text=text,  # type: ignore[arg-type]
                             client_msg_id=client_msg_id)
    with session_scope(sessions) as s:
        return store.persist(s, inbound, customer)


def test_a_first_message_starts_a_conversation_and_comes_back_typed(
    store: InboundStore, sessions: sessionmaker[Session]
) -> None:
    stored = persist(store, sessions, "i-1", "你们怎么回事，气死我了！到现在还没发货")
    assert isinstance(stored, StoredInbound)
    assert (stored.owner, stored.agent_id, stored.channel) == ("bot", None, "web")
    assert stored.shown_text == "你们怎么回事，气死我了！到现在还没发货"
    assert stored.sentiment.label == "angry"
    with session_scope(sessions) as s:
        assert s.get(Customer, "i-1") is not None
        msg = s.get(Message, stored.message_id)
        assert msg is not None and msg.conversation_id == stored.conversation_id
        assert (msg.sentiment_label, msg.anger) == ("angry", pytest.approx(stored.sentiment.anger))
        types = s.scalars(select(ConversationEvent.type).order_by(ConversationEvent.id)).all()
        assert types == ["conversation_started", "angry_message"]
    with pytest.raises(AttributeError):  # a result, not a bag of values to change
        stored.owner = "agent"  # type: ignore[misc]


def test_the_next_message_joins_the_open_conversation_and_a_channel_switch_moves_it(
    store: InboundStore, sessions: sessionmaker[Session]
) -> None:
    first = persist(store, sessions, "i-2", "我想查一下订单")
    second = persist(store, sessions, "i-2", "订单号是2026112400012345", channel="app")
    assert isinstance(first, StoredInbound) and isinstance(second, StoredInbound)
    assert second.conversation_id == first.conversation_id and second.channel == "app"
    with session_scope(sessions) as s:
        conv = s.get(Conversation, first.conversation_id)
        assert conv is not None and (conv.channel, conv.first_channel) == ("app", "web")


def test_a_retried_message_is_answered_with_the_first_and_the_replies_that_followed(
    store: InboundStore, sessions: sessionmaker[Session]
) -> None:
    first = persist(store, sessions, "i-3", "你好", client_msg_id="m-1")
    assert isinstance(first, StoredInbound)
    again = persist(store, sessions, "i-3", "你好", client_msg_id="m-1")
    # nothing answered it yet and it is recent: another request is still producing the answer
    assert isinstance(again, Outcome) and again.message_id == first.message_id and again.pending
    with session_scope(sessions) as s:
        s.add(Message(conversation_id=first.conversation_id, customer_id="i-3", direction="out", sender="bot",
                      channel="web", text="您好，有什么可以帮您？", created_at=utcnow()))
    answered = persist(store, sessions, "i-3", "你好", client_msg_id="m-1")
    assert isinstance(answered, Outcome) and not answered.pending
    assert [r.text for r in answered.replies] == ["您好，有什么可以帮您？"]
    with session_scope(sessions) as s:
        assert len(s.scalars(select(Message).where(Message.direction == "in")).all()) == 1


def test_an_old_unanswered_duplicate_is_not_waited_for(store: InboundStore, sessions: sessionmaker[Session]) -> None:
    first = persist(store, sessions, "i-4", "你好", client_msg_id="m-2")
    assert isinstance(first, StoredInbound)
    with session_scope(sessions) as s:
        msg = s.get(Message, first.message_id)
        assert msg is not None
        msg.created_at = utcnow() - timedelta(minutes=5)
    again = persist(store, sessions, "i-4", "你好", client_msg_id="m-2")
    assert isinstance(again, Outcome) and not again.pending and again.replies == []


def test_a_clicked_button_is_stored_as_its_title(store: InboundStore, sessions: sessionmaker[Session]) -> None:
    first = persist(store, sessions, "i-5", "退款")
    assert isinstance(first, StoredInbound)
    with session_scope(sessions) as s:
        s.add(Message(conversation_id=first.conversation_id, customer_id="i-5", direction="out", sender="bot",
                      channel="web", text="您是不是想问：", created_at=utcnow(),
                      buttons=[{"title": "退款多久到账？", "payload": '/ask_faq{"faq_id": "refund_time"}'}]))
    clicked = persist(store, sessions, "i-5", '/ask_faq{"faq_id": "refund_time"}')
    assert isinstance(clicked, StoredInbound) and clicked.shown_text == "退款多久到账？"
    unknown = persist(store, sessions, "i-5", "/greet")
    assert isinstance(unknown, StoredInbound) and unknown.shown_text == "/greet"


def test_a_lost_unique_key_race_runs_again_and_reads_the_winners_row(sessions: sessionmaker[Session]) -> None:
    tx = Transactions(sessions)
    runs: list[int] = []

    def insert_once(session: Session) -> str:
        runs.append(1)
        if session.get(Customer, "race") is None:
            if len(runs) == 1:  # "another replica" inserted it meanwhile: this insert fails on the primary key
                with session_scope(sessions) as other:
                    other.add(Customer(id="race"))
            session.add(Customer(id="race"))
            session.flush()
            return "inserted"
        return "found"

    assert asyncio.run(tx.first_wins(insert_once)) == "found"
    assert len(runs) == 2


def test_messages_of_one_customer_take_turns_and_the_lock_table_empties() -> None:
    locks = CustomerLocks()
    order: list[str] = []

    async def one(customer: str, name: str) -> None:
        async with locks.hold(customer):
            order.append(f"{name}+")
            await asyncio.sleep(0.01)
            order.append(f"{name}-")

    async def main() -> int:
        await asyncio.gather(one("a", "a1"), one("a", "a2"), one("b", "b1"))
        return len(locks)

    assert asyncio.run(main()) == 0
    a = [step for step in order if step.startswith("a")]
    assert a in (["a1+", "a1-", "a2+", "a2-"], ["a2+", "a2-", "a1+", "a1-"])  # never interleaved
    assert order.index("b1+") < order.index("a1-") or order.index("b1+") < order.index("a2-")  # others do not wait
