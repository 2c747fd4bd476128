"""``SentimentAnalyzer``: loads the trained artifact once and scores shopper messages in well under 2 ms."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import numpy.typing as npt

from router.sentiment.errors import ModelFormatError, ModelNotBuilt
from router.sentiment.features import as_arrays, feature_counts, normalize, warm_up, words
from router.sentiment.linear import HashedLinear, MeanLinear, count_matrix, sigmoid
from router.sentiment.polarity_lexicon import PolarityLexicon
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
        polarity: HashedLinear | MeanLinear,
        anger: HashedLinear,
        *,
        lexicon: Sequence[LexiconEntry] | None = None,
        polarity_lexicon: PolarityLexicon | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        if polarity.needs_dense != (polarity_lexicon is not None):
            raise ValueError("a polarity model with lexicon features needs its polarity lexicon, and only then")
        self.polarity_model = polarity
        self.anger_model = anger
        self.polarity_lexicon = polarity_lexicon
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
            polarity = MeanLinear.from_state(state["polarity"])
            anger = HashedLinear.from_state(state["anger"])
            lex_state = state.get("polarity_lexicon")
            polarity_lexicon = None if lex_state is None else PolarityLexicon.from_state(lex_state)
            analyzer = cls(polarity, anger, polarity_lexicon=polarity_lexicon, meta=state.get("meta"))
        except (KeyError, ValueError) as exc:
            raise ModelFormatError(path, str(exc)) from exc
        warm_up()
        return analyzer

    def to_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "format": ARTIFACT_FORMAT,
            "polarity": self.polarity_model.to_state(),
            "anger": self.anger_model.to_state(),
            "meta": self.meta,
        }
        if self.polarity_lexicon is not None:
            state["polarity_lexicon"] = self.polarity_lexicon.to_state()
        return state

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        joblib.dump(self.to_state(), tmp)
        tmp.replace(path)  # atomic: a gateway starting meanwhile never reads half a file
        return path

    def polarity(self, text: str) -> float:
        """Review polarity in [-1, 1] of the polarity model alone (no rules)."""
        normalized = normalize(text)
        toks = words(normalized)
        ids, tf = as_arrays(feature_counts(normalized, toks))
        return 2.0 * self.polarity_model.probability(ids, tf, self._dense(toks)) - 1.0

    def polarity_decisions(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """The polarity model's decision (logit) for many texts at once: the batch path of evaluation."""
        normalized = [normalize(t) for t in texts]
        dense = None
        if self.polarity_lexicon is not None:
            dense = self.polarity_lexicon.matrix([words(t) for t in normalized])
        return self.polarity_model.decisions(count_matrix(normalized), dense)

    def _dense(self, toks: list[str]) -> npt.NDArray[np.float64] | None:
        return None if self.polarity_lexicon is None else self.polarity_lexicon.features(toks)

    def score(self, text: str, signals: ConversationSignals | None = None) -> SentimentResult:
        """Score one message. Never raises on odd input: empty, emoji-only, control characters, 100 KB text."""
        signals = signals or _NO_SIGNALS
        normalized = normalize(text)
        if not any(ch.isalnum() or ord(ch) > 0x2000 for ch in normalized) and "!" not in normalized:
            return SentimentResult("neutral", 1.0, 0.0, 0.0, ["empty"])
        toks = words(normalized)
        ids, tf = as_arrays(feature_counts(normalized, toks))
        p_pos = self.polarity_model.probability(ids, tf, self._dense(toks))
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
