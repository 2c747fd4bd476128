"""After "no agent online, leave a message": which answers withdraw the offer, which only greet, when the offer is
stale, and that the message itself becomes a ticket (router/gateway/left_messages.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from router.clock import utcnow
from router.conversations.models import Conversation, ConversationEvent, Message
from router.db import session_scope
from router.gateway.left_messages import NO_AGENT_EVENT, LeftMessages, leave_message_reply, offer_expired
from router.gateway.messages import ShopperMessages
from router.gateway.outcome import Outcome
from router.gateway.schemas import InboundMessage
from router.gateway.texts import Texts
from router.sentiment import SentimentAnalyzer
from router.tickets.models import Ticket
from router.tickets.service import TicketService
from tests.router.gateway.conftest import add_conversation


@pytest.mark.parametrize("text", ["不留言了", "算了吧", "不用了。", "取消", "没事了!", "好不用了", " 不需要 "])
def test_these_withdraw_the_offer(text: str) -> None:
    assert leave_message_reply(text) == "leave_message_cancelled"


@pytest.mark.parametrize("text", ["你好", "在吗？", "有人吗有人吗", "Hello!", "亲，在不在", "人呢~", "...", "客服"])
def test_a_greeting_alone_is_not_the_message(text: str) -> None:
    assert leave_message_reply(text) == "leave_message_greeting"


@pytest.mark.parametrize("text", ["你好，我的快递三天没动了，电话13800001111", "算了吧，你们退款太慢了",
                                  "不用了的话怎么退"])
def test_anything_with_content_is_the_message(text: str) -> None:
    assert leave_message_reply(text) is None


def test_an_offer_goes_stale_after_its_window() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert not offer_expired(now - timedelta(minutes=29), now=now, window_s=1800)
    assert offer_expired(now - timedelta(minutes=31), now=now, window_s=1800)
    assert offer_expired((now - timedelta(minutes=31)).replace(tzinfo=None), now=now, window_s=1800)  # SQLite: naive
    assert not offer_expired(None, now=now, window_s=1800)


def _offer(sessions: sessionmaker[Session], customer: str, *, ago: timedelta = timedelta(minutes=1)) -> str:
    conv_id = add_conversation(sessions, customer, handoff_reason="leave_message", required_skill="logistics",
                               priority=3)
    with session_scope(sessions) as s:
        s.add(ConversationEvent(conversation_id=conv_id, type=NO_AGENT_EVENT, channel="web", data={},
                                created_at=utcnow() - ago))
    return conv_id


def _take(sessions: sessionmaker[Session], analyzer: SentimentAnalyzer, texts: Texts, customer: str,
          text: str) -> Outcome | None:
    left = LeftMessages(shopper_messages=ShopperMessages(analyzer), texts=texts, tickets=TicketService(sessions),
                        window_s=1800)
    with session_scope(sessions) as s:
        return left.take(s, InboundMessage(channel="web", customer_id=customer, text=text), customer)


def _conv(sessions: sessionmaker[Session], conv_id: str) -> Conversation:
    with session_scope(sessions) as s:
        conv = s.get(Conversation, conv_id)
        assert conv is not None
        s.expunge(conv)
        return conv


def test_the_message_becomes_a_ticket_and_ends_the_conversation(
    sessions: sessionmaker[Session], analyzer: SentimentAnalyzer, texts: Texts
) -> None:
    conv_id = _offer(sessions, "l-1")
    outcome = _take(sessions, analyzer, texts, "l-1", "快递三天没更新了，电话13800001111")
    assert outcome is not None and outcome.conversation_id == conv_id and outcome.message_id is not None
    conv = _conv(sessions, conv_id)
    assert (conv.status, conv.resolution, conv.handoff_reason) == ("closed", "ticket", None)
    with session_scope(sessions) as s:
        ticket = s.scalar(select(Ticket).where(Ticket.conversation_id == conv_id))
        assert ticket is not None and ticket.source == "leave_message" and "快递三天没更新了" in ticket.description
        assert outcome.replies[0].text == texts("left_message", ticket_id=ticket.ref)


def test_a_greeting_keeps_the_offer_and_a_decline_withdraws_it(
    sessions: sessionmaker[Session], analyzer: SentimentAnalyzer, texts: Texts
) -> None:
    conv_id = _offer(sessions, "l-2")
    greeted = _take(sessions, analyzer, texts, "l-2", "在吗")
    assert greeted is not None and greeted.replies[0].text == texts("leave_message_greeting")
    assert _conv(sessions, conv_id).handoff_reason == "leave_message"
    declined = _take(sessions, analyzer, texts, "l-2", "不留言了")
    assert declined is not None and declined.replies[0].text == texts("leave_message_cancelled")
    conv = _conv(sessions, conv_id)
    assert (conv.status, conv.handoff_reason) == ("open", None)
    # both messages are in the history; the next one goes to the bot
    with session_scope(sessions) as s:
        said = s.scalars(select(Message.text).where(Message.direction == "in")).all()
        assert said == ["在吗", "不留言了"]
    assert _take(sessions, analyzer, texts, "l-2", "查一下物流") is None


def test_a_stale_offer_lets_the_bot_answer(
    sessions: sessionmaker[Session], analyzer: SentimentAnalyzer, texts: Texts
) -> None:
    conv_id = _offer(sessions, "l-3", ago=timedelta(hours=2))
    assert _take(sessions, analyzer, texts, "l-3", "快递三天没更新了") is None
    assert _conv(sessions, conv_id).handoff_reason is None
    with session_scope(sessions) as s:
        assert s.scalar(select(Message.id)) is None  # not stored here: the normal path stores it
        types = s.scalars(select(ConversationEvent.type).where(ConversationEvent.conversation_id == conv_id)).all()
        assert "leave_message_expired" in types
