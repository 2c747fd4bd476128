"""Graded response to an upset shopper (issue 16), and the mood agents are shown.

One trigger for every "angry" score made each false alarm an apology and a handoff. The response is graded instead,
by the anger score of the message and the conversation's recent turns (thresholds in :class:`AngerSettings`, from the
router settings; chosen on the flow-message dev set, see bench/RESULTS.md):

* ``handoff``: high-confidence anger (``anger >= handoff_anger``), or a *repeated* negative turn: the message is
  flagged (``anger >= offer_anger``) and an earlier one of the last few turns was flagged too, or it is the last of
  ``negative_run`` negative turns in a row (flagged or confidently negative). The gateway apologises and hands over
  with priority, as before.
* ``offer``: a moderate score (``offer_anger <= anger < handoff_anger``) on its own: the bot keeps the
  conversation and answers; the gateway adds one apology (once per conversation) and a "转人工" button. If the shopper
  takes it, the escalation policy gives the handoff the priority of an angry message (``offer_taken`` in
  knowledge_base/escalation.py; the gateway asks :meth:`AngerPolicy.offered_before`).
* ``none``: everything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from router.conversations.models import ConversationEvent, Message
from router.sentiment import Label, SentimentResult

Grade = Literal["handoff", "offer", "none"]
OFFER_EVENT = "anger_offer"


@dataclass(frozen=True, slots=True)
class AngerSettings:
    handoff_anger: float = 0.7
    offer_anger: float = 0.5
    window: int = 5
    negative_run: int = 3
    mood_confidence: float = 0.8


@dataclass(frozen=True, slots=True)
class Turn:
    """An earlier shopper message of the conversation, as stored."""

    label: str | None
    score: float | None
    anger: float | None


class AngerPolicy:
    """Pure decisions plus the two small queries they need (earlier turns, an earlier offer)."""

    def __init__(self, settings: AngerSettings | None = None) -> None:
        self.settings = settings or AngerSettings()

    # ------------------------------------------------------------------ pure
    def flagged(self, anger: float | None) -> bool:
        return anger is not None and anger >= self.settings.offer_anger

    def negative(self, label: str | None, score: float | None, anger: float | None) -> bool:
        """A negative turn: flagged, or labelled negative with at least the mood confidence."""
        return self.flagged(anger) or (label == "negative" and (score or 0.0) >= self.settings.mood_confidence)

    def grade(self, result: SentimentResult, earlier: Sequence[Turn]) -> Grade:
        """The response to ``result`` given the conversation's earlier turns (oldest first)."""
        s = self.settings
        recent = list(earlier)[-(s.window - 1) :] if s.window > 1 else []
        if result.anger >= s.handoff_anger:
            return "handoff"
        now_negative = self.negative(result.label, result.score, result.anger)
        run = list(earlier)[-(s.negative_run - 1) :] if s.negative_run > 1 else []
        run_is_negative = all(self.negative(t.label, t.score, t.anger) for t in run)
        if now_negative and len(run) == s.negative_run - 1 and run_is_negative:
            return "handoff"
        if not self.flagged(result.anger):
            return "none"
        if any(self.flagged(t.anger) for t in recent):
            return "handoff"
        return "offer"

    def mood(self, label: str | None, score: float | None, anger: float | None) -> Label:
        """What agents see: angry only when flagged, negative/positive only when confident, else neutral (平静)."""
        if self.flagged(anger):
            return "angry"
        if label in ("negative", "positive") and (score or 0.0) >= self.settings.mood_confidence:
            return label  # type: ignore[return-value]
        return "neutral"

    # ------------------------------------------------------------------ queries
    def earlier_turns(self, session: Session, conversation_id: str, before_message_id: int) -> list[Turn]:
        """The conversation's shopper messages before ``before_message_id`` that matter here, oldest first."""
        n = max(self.settings.window, self.settings.negative_run)
        rows = session.execute(
            select(Message.sentiment_label, Message.sentiment_score, Message.anger)
            .where(
                Message.conversation_id == conversation_id,
                Message.direction == "in",
                Message.id < before_message_id,
            )
            .order_by(Message.id.desc())
            .limit(n)
        ).all()
        return [Turn(label, score, anger) for label, score, anger in reversed(rows)]

    @staticmethod
    def offered_before(session: Session, conversation_id: str) -> bool:
        return (
            session.scalar(
                select(ConversationEvent.id)
                .where(ConversationEvent.conversation_id == conversation_id, ConversationEvent.type == OFFER_EVENT)
                .limit(1)
            )
            is not None
        )

