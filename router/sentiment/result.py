"""Typed results and inputs of the sentiment check (what travels to the gateway and, as metadata, to Rasa)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, TypedDict

Label = Literal["angry", "negative", "neutral", "positive"]
LABELS: tuple[Label, ...] = ("angry", "negative", "neutral", "positive")


class SentimentPayload(TypedDict):
    """Wire form of a :class:`SentimentResult` (gateway -> Rasa message metadata ``sentiment``)."""

    label: Label
    score: float
    anger: float
    polarity: float


@dataclass(frozen=True, slots=True)
class SentimentResult:
    """Sentiment of one shopper message.

    ``label``: angry | negative | neutral | positive. ``score``: confidence of that label in [0, 1].
    ``anger``: probability-like anger level in [0, 1] (independent of review polarity).
    ``polarity``: review polarity in [-1, 1] (-1 very negative, +1 very positive).
    ``reasons``: short machine-readable tags that explain the decision (``lexicon:投诉``, ``signal:repeated``...).
    """

    label: Label
    score: float
    anger: float
    polarity: float
    reasons: list[str] = field(default_factory=list)

    @property
    def is_angry(self) -> bool:
        return self.label == "angry"

    def as_dict(self) -> SentimentPayload:
        return {
            "label": self.label,
            "score": round(self.score, 4),
            "anger": round(self.anger, 4),
            "polarity": round(self.polarity, 4),
        }


@dataclass(frozen=True, slots=True)
class ConversationSignals:
    """What the gateway knows about the conversation so far, besides the current text.

    ``previous_texts``: the shopper's earlier messages, oldest first (only the last few are used).
    ``consecutive_fallbacks``: how many bot turns in a row just before this message were fallbacks
    ("I did not understand").
    """

    previous_texts: Sequence[str] = ()
    consecutive_fallbacks: int = 0
