"""The satisfaction survey after an agent closed: answered by the widget's stars or by a typed rating
("4 客服态度不错"); a second rating within a few minutes updates the first, and says so."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from router.clock import aware
from router.conversations.models import Conversation, Survey
from router.gateway import repository
from router.gateway.delivery import Delivery
from router.gateway.messages import ShopperMessages, record_event, system_replies
from router.gateway.outcome import Outcome
from router.gateway.schemas import InboundMessage, Reply
from router.gateway.texts import Texts
from router.gateway.transactions import Transactions

# the digit stands alone: "10", "4.5", "5G" or an order number that starts with 1-5 is not a rating
SURVEY_RE = re.compile(r"^\s*([1-5])(?![0-9０-９A-Za-z]|[.．][0-9０-９])\s*(?:分|星)?[\s,，。.!！:：、]*(.*)$", re.S)
# a number alone that is no rating ("10", "0", "4.5分"): while a survey waits, the scale is explained instead
NUMBER_ONLY_RE = re.compile(r"^\s*\d{1,3}(?:[.．]\d)?\s*(?:分|星)?\s*$")
# a second rating this soon after the first updates it (the shopper changed their mind, or typed after clicking stars)
SURVEY_UPDATE_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class Rating:
    rating: int  # 1-5
    comment: str | None


def parse_rating(text: str) -> Rating | None:
    """A typed rating: a digit 1-5 on its own first (optionally "分" / "星"), then an optional comment."""
    match = SURVEY_RE.match(text)
    if not match:
        return None
    return Rating(int(match.group(1)), (match.group(2) or "").strip() or None)


def accepts_rating(conv: Conversation, survey: Survey | None, *, now: datetime) -> bool:
    """A closed conversation takes a rating while its survey is pending, or shortly after it was answered."""
    if conv.survey_pending:
        return True
    return survey is not None and aware(survey.created_at) >= now - SURVEY_UPDATE_WINDOW


class Surveys:
    def __init__(
        self, *, tx: Transactions, shopper_messages: ShopperMessages, texts: Texts, delivery: Delivery
    ) -> None:
        self.tx = tx
        self.shopper_messages = shopper_messages
        self.texts = texts
        self.delivery = delivery

    def answer_typed(self, session: Session, inbound: InboundMessage, customer_id: str) -> Outcome | None:
        """A typed rating answers the pending survey of the shopper's last closed conversation, or updates a rating
        given in the last few minutes (by stars or typing); both close the widget's stars. A number alone that is not
        1-5 ("10") while the survey waits gets the scale explained. None when the message is not a rating (or
        nothing awaits one): it goes on to the bot."""
        rating = parse_rating(inbound.text)
        off_scale = rating is None and NUMBER_ONLY_RE.match(inbound.text) is not None
        if (rating is None and not off_scale) or repository.has_open_conversation(session, customer_id=customer_id):
            return None
        conv = repository.last_closed_conversation(session, customer_id=customer_id)
        if conv is None or not accepts_rating(conv, session.get(Survey, conv.id), now=datetime.now(UTC)):
            return None
        if rating is None and not conv.survey_pending:  # "10" after the survey was answered: for the bot
            return None
        msg = self.shopper_messages.store(session, conv.id, customer_id, inbound)
        if rating is None:  # "10" to a pending survey: say what the scale is, the survey keeps waiting
            return Outcome(conv.id, "bot", system_replies(session, conv, self.texts("survey_scale")), None, msg.id)
        replies = self.rate(session, conv, rating.rating, rating.comment)
        return Outcome(conv.id, "bot", replies, None, msg.id, survey_done=True)

    def rate(self, session: Session, conv: Conversation, rating: int, comment: str | None) -> list[Reply]:
        """Record (or update) the rating and store the thank-you that says which one counts."""
        updated = record_survey(session, conv, rating, comment)
        text = self.texts("survey_updated", rating=rating) if updated else self.texts("survey_thanks")
        return system_replies(session, conv, text)

    async def submit(
        self, *, conversation_id: str, rating: int, comment: str | None, owned_by: Callable[[str], bool] | None = None
    ) -> list[Reply] | None:
        """The widget's stars; the thank-you goes into the history and to every open window. None when the
        conversation is unknown (or not ``owned_by`` the caller: checked in the transaction that records it)."""

        def apply(session: Session) -> tuple[str, list[Reply]] | None:
            conv = session.get(Conversation, conversation_id)
            if conv is None or (owned_by is not None and not owned_by(conv.customer_id)):
                return None
            return conv.customer_id, self.rate(session, conv, rating, comment)

        done = await self.tx.run(apply)
        if done is None:
            return None
        customer_id, replies = done
        await self.delivery.replies(customer_id, conversation_id, "bot", replies)
        await self.delivery.to_customer(customer_id, {"type": "survey_done", "conversation_id": conversation_id})
        return replies


def record_survey(session: Session, conv: Conversation, rating: int, comment: str | None) -> bool:
    """Store the rating; True when it replaced an earlier one (a second rating is never dropped silently). A second
    rating without a comment keeps the first one's comment."""
    survey = session.get(Survey, conv.id)
    if survey is None:
        session.add(
            Survey(
                conversation_id=conv.id,
                customer_id=conv.customer_id,
                agent_id=conv.agent_id,
                channel=conv.channel,
                rating=rating,
                comment=comment,
            )
        )
    else:
        survey.rating = rating
        survey.comment = comment or survey.comment
    conv.survey_pending = False
    record_event(session, conv, "survey", rating=rating, agent_id=conv.agent_id, updated=survey is not None)
    return survey is not None
