from __future__ import annotations

from router.sentiment import SentimentResult, negative_trend, priority_boost


def r(label: str, polarity: float = 0.0, anger: float = 0.0) -> SentimentResult:
    return SentimentResult(label, 0.9, anger, polarity, [])  # type: ignore[arg-type]


def test_no_results_no_boost() -> None:
    assert priority_boost([]) == 0
    assert negative_trend([]) == 0.0


def test_angry_now_boosts_at_least_three() -> None:
    assert priority_boost([r("neutral"), r("angry", -0.9, 0.6)]) == 3
    assert priority_boost([r("angry", -0.9, 0.95)]) == 4
    assert priority_boost([r("angry", -0.9, 0.6), r("neutral"), r("angry", -0.9, 0.95)]) == 5


def test_negative_trend_raises_priority() -> None:
    calm = [r("neutral"), r("positive", 0.8), r("neutral")]
    sour = [r("negative", -0.7), r("neutral"), r("negative", -0.6)]
    bitter = [r("negative", -0.9), r("negative", -0.9), r("negative", -0.95)]
    assert priority_boost(calm) == 0
    assert priority_boost(sour) == 1
    assert priority_boost(bitter) == 2
    assert negative_trend(bitter) < negative_trend(sour) < negative_trend(calm)


def test_recent_messages_weigh_more() -> None:
    recovering = [r("negative", -0.9), r("negative", -0.9), r("positive", 0.9)]
    worsening = [r("positive", 0.9), r("negative", -0.9), r("negative", -0.9)]
    assert negative_trend(worsening) < negative_trend(recovering)
    assert priority_boost(recovering) == 0


def test_only_the_window_counts() -> None:
    old_anger = [r("angry", -1.0, 0.9)] + [r("neutral")] * 5
    assert priority_boost(old_anger) == 0
    assert -1.0 <= negative_trend([r("angry", -1.0, 0.9)] * 10) <= 1.0
