"""The graded response to anger and the mood agents see (router/gateway/anger.py), as pure decisions."""

from __future__ import annotations

from router.gateway.anger import AngerPolicy, AngerSettings, Turn
from router.sentiment import SentimentResult

POLICY = AngerPolicy(AngerSettings(handoff_anger=0.8, offer_anger=0.5, window=5, negative_run=3, mood_confidence=0.8))
CALM = Turn("neutral", 0.9, 0.1)


def r(label: str, score: float, anger: float) -> SentimentResult:
    return SentimentResult(label, score, anger, 0.0)  # type: ignore[arg-type]


def test_high_anger_hands_off_at_once() -> None:
    assert POLICY.grade(r("angry", 0.9, 0.9), []) == "handoff"


def test_moderate_anger_alone_is_an_offer() -> None:
    assert POLICY.grade(r("angry", 0.6, 0.6), []) == "offer"
    assert POLICY.grade(r("angry", 0.6, 0.6), [CALM, CALM, CALM, CALM]) == "offer"


def test_a_second_flagged_turn_escalates() -> None:
    earlier = [CALM, Turn("angry", 0.6, 0.6), CALM]
    assert POLICY.grade(r("angry", 0.55, 0.55), earlier) == "handoff"
    # out of the window of the last 5 turns (this one included): an offer again
    long_ago = [Turn("angry", 0.6, 0.6), CALM, CALM, CALM, CALM]
    assert POLICY.grade(r("angry", 0.55, 0.55), long_ago) == "offer"


def test_a_run_of_negative_turns_escalates() -> None:
    negative = Turn("negative", 0.9, 0.3)
    assert POLICY.grade(r("negative", 0.85, 0.3), [negative, negative]) == "handoff"
    assert POLICY.grade(r("negative", 0.85, 0.3), [CALM, negative]) == "none"
    # a negative label below the mood confidence is not a negative turn
    assert POLICY.grade(r("negative", 0.6, 0.3), [negative, negative]) == "none"


def test_calm_messages_get_no_response() -> None:
    assert POLICY.grade(r("neutral", 0.9, 0.2), [Turn("angry", 0.7, 0.7)]) == "none"
    assert POLICY.grade(r("positive", 0.95, 0.0), []) == "none"


def test_mood_is_neutral_unless_confident() -> None:
    assert POLICY.mood("negative", 0.95, 0.2) == "negative"
    assert POLICY.mood("negative", 0.7, 0.2) == "neutral"
    assert POLICY.mood("positive", 0.79, 0.0) == "neutral"
    assert POLICY.mood("angry", 0.55, 0.55) == "angry"
    assert POLICY.mood("neutral", 0.99, 0.1) == "neutral"
    assert POLICY.mood(None, None, None) == "neutral"
