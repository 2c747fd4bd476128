"""Sentiment results as the escalation policy's feelings (the rules live in knowledge_base/escalation.py).

* :func:`feelings` turns analyzer results into the policy's :class:`~knowledge_base.escalation.Feeling` values.
* :func:`negative_trend` and :func:`priority_boost` are the policy's trend and sentiment points for a sequence of
  results, oldest first (kept here so callers and tests that hold ``SentimentResult`` values need no conversion).
"""

from __future__ import annotations

from collections.abc import Sequence

from knowledge_base.escalation import Feeling, sentiment_boost, trend
from router.sentiment.result import SentimentResult


def feelings(results: Sequence[SentimentResult]) -> list[Feeling]:
    return [Feeling(label=r.label, anger=r.anger, polarity=r.polarity) for r in results]


def negative_trend(results: Sequence[SentimentResult]) -> float:
    """Exponentially weighted mean valence of the recent results, in [-1, 1]; <= -0.3 is a negative trend."""
    return trend(feelings(results))


def priority_boost(results: Sequence[SentimentResult]) -> int:
    """Priority points 0..5 from the conversation's results, oldest first (the policy's sentiment rule)."""
    return sentiment_boost(feelings(results))
