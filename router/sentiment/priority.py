"""Pure escalation logic the gateway applies to the recent sentiment of a conversation.

* :func:`negative_trend` summarises the last few results as one number in [-1, 1] (recent messages weigh more).
* :func:`priority_boost` turns the recent sequence into a queue-priority boost 0..5: an angry message now gives at
  least 3 (the gateway also apologises and offers a human at once); a sustained negative trend without anger gives
  1 or 2.
"""

from __future__ import annotations

from collections.abc import Sequence

from router.sentiment.result import SentimentResult

TREND_WINDOW = 5
TREND_DECAY = 0.6
MAX_BOOST = 5
ANGRY_BOOST = 3
TREND_MILD = -0.3
TREND_STRONG = -0.6


def _valence(r: SentimentResult) -> float:
    """One result as a value in [-1, 1]: angry counts as -1 whatever its polarity, neutral as 0."""
    if r.label == "angry":
        return -1.0
    if r.label == "neutral":
        return 0.0
    return r.polarity


def negative_trend(results: Sequence[SentimentResult], window: int = TREND_WINDOW, decay: float = TREND_DECAY) -> float:
    """Exponentially weighted mean valence of the last ``window`` results, newest weight 1, each older one ``decay``
    times the next. Returns 0.0 for no results; <= -0.3 is a negative trend, <= -0.6 a strong one."""
    recent = list(results)[-window:]
    if not recent:
        return 0.0
    weights = [decay ** (len(recent) - 1 - i) for i in range(len(recent))]
    return sum(w * _valence(r) for w, r in zip(weights, recent, strict=True)) / sum(weights)


def priority_boost(results: Sequence[SentimentResult]) -> int:
    """Queue-priority boost 0..5 from the conversation's results, oldest first.

    - last message angry: 3, +1 if its anger >= 0.85, +1 if an earlier message among the last 5 was angry too;
    - otherwise a negative trend (see :func:`negative_trend`): 2 if <= -0.6, 1 if <= -0.3;
    - otherwise 0.
    """
    if not results:
        return 0
    last = results[-1]
    if last.label == "angry":
        boost = ANGRY_BOOST
        if last.anger >= 0.85:
            boost += 1
        if any(r.label == "angry" for r in list(results)[-TREND_WINDOW:-1]):
            boost += 1
        return min(boost, MAX_BOOST)
    trend = negative_trend(results)
    if trend <= TREND_STRONG:
        return 2
    if trend <= TREND_MILD:
        return 1
    return 0
