"""``SentimentAnalyzer``: loads the trained artifact once and scores shopper messages in well under 2 ms."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib

from router.sentiment.errors import ModelFormatError, ModelNotBuilt
from router.sentiment.features import as_arrays, feature_counts, normalize, warm_up
from router.sentiment.linear import HashedLinear, sigmoid
from router.sentiment.result import ConversationSignals, Label, SentimentResult
from router.sentiment.rules import POLARITY_CUT, LexiconEntry, anger_logit, load_lexicon, rule_features

ARTIFACT_FORMAT = "kefu-sentiment/1"
_NO_SIGNALS = ConversationSignals()


class SentimentAnalyzer:
    """Polarity model + anger model + rule layer.

    >>> analyzer = SentimentAnalyzer.load("var/sentiment/model.joblib")  # doctest: +SKIP
    >>> analyzer.score("你们这是骗子吧！！！再不退钱我就投诉到12315").label  # doctest: +SKIP
    'angry'
    """

    def __init__(
        self,
        polarity: HashedLinear,
        anger: HashedLinear,
        *,
        lexicon: Sequence[LexiconEntry] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.polarity_model = polarity
        self.anger_model = anger
        self.lexicon = tuple(load_lexicon() if lexicon is None else lexicon)
        self.meta = dict(meta or {})

    @classmethod
    def load(cls, path: str | Path) -> SentimentAnalyzer:
        """Load an artifact written by ``kefu sentiment train``; raises :class:`ModelNotBuilt` if it is missing."""
        path = Path(path)
        if not path.is_file():
            raise ModelNotBuilt(path)
        try:
            state = joblib.load(path)
        except Exception as exc:  # joblib/pickle raise many types for a truncated or foreign file
            raise ModelFormatError(path, f"cannot be read: {exc}") from exc
        if not isinstance(state, dict) or state.get("format") != ARTIFACT_FORMAT:
            found = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise ModelFormatError(path, f"format {found!r}, expected {ARTIFACT_FORMAT!r}")
        try:
            polarity = HashedLinear.from_state(state["polarity"])
            anger = HashedLinear.from_state(state["anger"])
        except (KeyError, ValueError) as exc:
            raise ModelFormatError(path, str(exc)) from exc
        warm_up()
        return cls(polarity, anger, meta=state.get("meta"))

    def to_state(self) -> dict[str, Any]:
        return {
            "format": ARTIFACT_FORMAT,
            "polarity": self.polarity_model.to_state(),
            "anger": self.anger_model.to_state(),
            "meta": self.meta,
        }

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        joblib.dump(self.to_state(), tmp)
        tmp.replace(path)  # atomic: a gateway starting meanwhile never reads half a file
        return path

    def polarity(self, text: str) -> float:
        """Review polarity in [-1, 1] of the polarity model alone (no rules)."""
        ids, tf = as_arrays(feature_counts(normalize(text)))
        return 2.0 * self.polarity_model.probability(ids, tf) - 1.0

    def score(self, text: str, signals: ConversationSignals | None = None) -> SentimentResult:
        """Score one message. Never raises on odd input: empty, emoji-only, control characters, 100 KB text."""
        signals = signals or _NO_SIGNALS
        normalized = normalize(text)
        if not any(ch.isalnum() or ord(ch) > 0x2000 for ch in normalized) and "!" not in normalized:
            return SentimentResult("neutral", 1.0, 0.0, 0.0, ["empty"])
        ids, tf = as_arrays(feature_counts(normalized))
        p_pos = self.polarity_model.probability(ids, tf)
        p_anger = self.anger_model.probability(ids, tf)
        polarity = 2.0 * p_pos - 1.0
        rules = rule_features(
            normalized,
            previous_texts=signals.previous_texts,
            consecutive_fallbacks=signals.consecutive_fallbacks,
            lexicon=self.lexicon,
        )
        anger = sigmoid(anger_logit(p_anger, polarity, rules))
        reasons = [f"model:anger={p_anger:.2f}", f"model:polarity={polarity:+.2f}", *rules.reasons]
        label: Label
        if anger >= 0.5:
            label, confidence = "angry", anger
        elif rules.request:
            # A shopper asking for help is not reviewing; the confidence is how sure we are it is not angry.
            label, confidence = "neutral", 1.0 - anger
        elif polarity >= POLARITY_CUT:
            label, confidence = "positive", p_pos
        elif polarity <= -POLARITY_CUT:
            label, confidence = "negative", 1.0 - p_pos
        else:
            label, confidence = "neutral", 1.0 - abs(polarity)
        return SentimentResult(label, _unit(confidence), _unit(anger), max(-1.0, min(1.0, polarity)), reasons)

    def score_many(self, texts: Sequence[str]) -> list[SentimentResult]:
        return [self.score(t) for t in texts]


def _unit(x: float) -> float:
    if math.isnan(x):
        return 0.0
    return max(0.0, min(1.0, x))
