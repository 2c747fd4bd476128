"""Survey answers: what counts as a typed rating, which closed conversation takes it, and how a second rating
updates the first (router/gateway/surveys.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from router.conversations.models import Conversation, ConversationEvent, Message, Survey
from router.db import session_scope
from router.gateway.delivery import Delivery
from router.gateway.messages import ShopperMessages
from router.gateway.outcome import Outcome
from router.gateway.schemas import InboundMessage
from router.gateway.surveys import Rating, Surveys, accepts_rating, parse_rating, record_survey
from router.gateway.texts import Texts
from router.gateway.transactions import Transactions
from router.sentiment import SentimentAnalyzer
from tests.router.gateway.conftest import RecordingPush, add_conversation


@pytest.mark.parametrize(("text", "expected"), [
    ("5", Rating(5, None)),
    ("4 客服态度不错", Rating(4, "客服态度不错")),
    ("  3分，一般般 ", Rating(3, "一般般")),
    ("1星!!! 太慢了", Rating(1, "太慢了")),
    ("2：", Rating(2, None)),
    ("5\n谢谢", Rating(5, "谢谢")),
])
def test_a_leading_digit_from_1_to_5_is_a_rating(text: str, expected: Rating) -> None:
    assert parse_rating(text) == expected


@pytest.mark.parametrize("text", [
    "0", "6 很好", "我给5分", "五分", "订单 2026112400012345", "",
    # a number that merely starts with 1-5: a ten-point score, a decimal, an order or phone number, a product name
    "10", "10分", "2026112400012345", "13812345678", "4.5分", "3．5", "5G套餐怎么选",
])
def test_anything_else_is_not_a_rating(text: str) -> None:
    assert parse_rating(text) is None


def test_a_pending_survey_takes_a_rating_and_an_answered_one_only_for_ten_minutes() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    pending, answered = Conversation(survey_pending=True), Conversation(survey_pending=False)
    assert accepts_rating(pending, None, now=now)
    assert not accepts_rating(answered, None, now=now)
    assert accepts_rating(answered, Survey(created_at=now - timedelta(minutes=9)), now=now)
    assert not accepts_rating(answered, Survey(created_at=now - timedelta(minutes=11)), now=now)
    # a naive time from SQLite is UTC
    assert accepts_rating(answered, Survey(created_at=(now - timedelta(minutes=1)).replace(tzinfo=None)), now=now)


def test_a_second_rating_updates_the_first_and_keeps_its_comment(sessions: sessionmaker[Session]) -> None:
    conv_id = add_conversation(sessions, "s-1", status="closed", survey_pending=True, agent_id=7)
    with session_scope(sessions) as s:
        conv = s.get(Conversation, conv_id)
        assert conv is not None
        assert record_survey(s, conv, 2, "太慢") is False
        assert conv.survey_pending is False
    with session_scope(sessions) as s:
        conv = s.get(Conversation, conv_id)
        assert conv is not None
        assert record_survey(s, conv, 4, None) is True
    with session_scope(sessions) as s:
        survey = s.get(Survey, conv_id)
        assert survey is not None and (survey.rating, survey.comment, survey.agent_id) == (4, "太慢", 7)
        events = s.scalars(select(ConversationEvent.data).where(ConversationEvent.type == "survey")).all()
        assert [(e["rating"], e["updated"]) for e in events] == [(2, False), (4, True)]


def _surveys(sessions: sessionmaker[Session], analyzer: SentimentAnalyzer, texts: Texts,
             push: RecordingPush) -> Surveys:
    return Surveys(tx=Transactions(sessions), shopper_messages=ShopperMessages(analyzer), texts=texts,
                   delivery=Delivery(push, None))


def _typed(surveys: Surveys, sessions: sessionmaker[Session], customer: str, text: str) -> Outcome | None:
    with session_scope(sessions) as s:
        return surveys.answer_typed(s, InboundMessage(channel="web", customer_id=customer, text=text), customer)


def test_a_typed_rating_answers_the_last_closed_conversation(
    sessions: sessionmaker[Session], analyzer: SentimentAnalyzer, texts: Texts, push: RecordingPush
) -> None:
    surveys = _surveys(sessions, analyzer, texts, push)
    conv_id = add_conversation(sessions, "s-2", status="closed", survey_pending=True)
    outcome = _typed(surveys, sessions, "s-2", "5 很满意")
    assert outcome is not None
    assert (outcome.conversation_id, outcome.owner, outcome.survey_done) == (conv_id, "bot", True)
    assert outcome.replies[0].text == texts("survey_thanks")
    with session_scope(sessions) as s:
        said = s.scalars(select(Message).where(Message.conversation_id == conv_id).order_by(Message.id)).all()
        # the rating is part of the history, scored like every shopper message, and so is the thank-you
        assert [(m.direction, m.text) for m in said] == [("in", "5 很满意"), ("out", texts("survey_thanks"))]
        assert said[0].sentiment_label is not None


def test_a_typed_digit_goes_to_the_bot_while_a_conversation_is_open_or_nothing_awaits_a_rating(
    sessions: sessionmaker[Session], analyzer: SentimentAnalyzer, texts: Texts, push: RecordingPush
) -> None:
    surveys = _surveys(sessions, analyzer, texts, push)
    assert _typed(surveys, sessions, "s-3", "5") is None  # a new customer
    add_conversation(sessions, "s-3", status="closed", survey_pending=False)
    assert _typed(surveys, sessions, "s-3", "5") is None  # rated long ago (never)
    add_conversation(sessions, "s-4", status="closed", survey_pending=True)
    add_conversation(sessions, "s-4", status="open")
    assert _typed(surveys, sessions, "s-4", "5") is None  # she is talking again: "5" answers that conversation
    add_conversation(sessions, "s-5", status="closed", survey_pending=True)
    assert _typed(surveys, sessions, "s-5", "我要退货") is None


def test_the_stars_record_push_and_respect_the_owner(
    sessions: sessionmaker[Session], analyzer: SentimentAnalyzer, texts: Texts, push: RecordingPush
) -> None:
    surveys = _surveys(sessions, analyzer, texts, push)
    conv_id = add_conversation(sessions, "s-6", status="closed", survey_pending=True)
    assert asyncio.run(surveys.submit(conversation_id=conv_id, rating=3, comment=None,
                                      owned_by=lambda c: c == "someone-else")) is None
    assert asyncio.run(surveys.submit(conversation_id="no-such", rating=3, comment=None)) is None
    replies = asyncio.run(surveys.submit(conversation_id=conv_id, rating=3, comment="一般", owned_by=lambda c: True))
    assert replies is not None and replies[0].text == texts("survey_thanks")
    assert [e["type"] for _, e in push.customers] == ["reply", "survey_done"]
    again = asyncio.run(surveys.submit(conversation_id=conv_id, rating=5, comment=None))
    assert again is not None and again[0].text == texts("survey_updated", rating=5)
