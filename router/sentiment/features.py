"""Text normalisation and hashed n-gram features, shared by training and scoring so both see the same numbers.

Features are character 1-3-grams plus jieba word unigrams and bigrams, hashed with CRC32 into ``N_BUCKETS`` slots.
Hashing (instead of a vocabulary dict) keeps the artifact a few numpy arrays that load in milliseconds, and a message
is featurised in well under a millisecond in pure Python.
"""

from __future__ import annotations

import re
import threading
import unicodedata
import zlib
from collections import Counter

import jieba
import numpy as np
import numpy.typing as npt

from router.sentiment.entities import PLACEHOLDERS, mask_entities

# Bumped whenever normalisation or featurisation changes what a text becomes: an artifact of another version is
# refused at load time instead of silently scoring with features it was not trained on.
FEATURES_VERSION = 2  # 2: entity masking (issue 16)
N_BUCKETS = 1 << 21
_MASK = N_BUCKETS - 1
# Longer messages are cut to head + tail: complaints put the point at the start or the end, and this bounds the cost
# of a 100 KB paste.
MAX_CHARS = 1000
_HEAD = 800
_TAIL = 200
_WS = re.compile(r"\s+")
_DROP_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}

_tokenizer_lock = threading.Lock()
_tokenizer: jieba.Tokenizer | None = None


def _jieba() -> jieba.Tokenizer:
    # A private tokenizer: other packages may add user words to jieba's global one, which would silently change
    # the features this model was trained on.
    global _tokenizer
    if _tokenizer is None:
        with _tokenizer_lock:
            if _tokenizer is None:
                jieba.setLogLevel(60)
                tok = jieba.Tokenizer()
                tok.initialize()
                _tokenizer = tok
    return _tokenizer


def warm_up() -> None:
    """Load the jieba dictionary now (about a second) rather than on the first message."""
    _jieba()


def normalize(text: str) -> str:
    """NFKC (full-width punctuation becomes ASCII), lower case, control/format characters removed, spaces collapsed,
    entities masked (:func:`router.sentiment.entities.mask_entities`)."""
    text = unicodedata.normalize("NFKC", text)
    if any(unicodedata.category(ch) in _DROP_CATEGORIES for ch in text):
        text = "".join(" " if unicodedata.category(ch) in _DROP_CATEGORIES else ch for ch in text)
    text = mask_entities(_WS.sub(" ", text).strip().lower())
    if len(text) > MAX_CHARS:
        text = text[:_HEAD] + " " + text[-_TAIL:]
    return text


def words(normalized: str) -> list[str]:
    """jieba tokens of an already normalised text, spaces dropped."""
    return [w for w in _jieba().lcut(normalized) if not w.isspace()]


def _bucket(feature: str) -> int:
    return zlib.crc32(feature.encode("utf-8")) & _MASK


def feature_counts(normalized: str, toks: list[str] | None = None) -> Counter[int]:
    """Hashed n-gram counts of an already normalised text (``toks``: its :func:`words`, if already computed).

    N-grams that touch an entity placeholder are skipped: entities carry no weight in any model."""
    counts: Counter[int] = Counter()
    text = normalized
    n = len(text)
    masked = not PLACEHOLDERS.isdisjoint(text)
    for size in (1, 2, 3):
        for i in range(n - size + 1):
            gram = text[i : i + size]
            if size == 1 and gram == " ":
                continue
            if masked and not PLACEHOLDERS.isdisjoint(gram):
                continue
            counts[_bucket("c" + gram)] += 1
    if toks is None:
        toks = words(text)
    if masked:
        toks = [t if PLACEHOLDERS.isdisjoint(t) else "" for t in toks]
    for tok in toks:
        if tok:
            counts[_bucket("w" + tok)] += 1
    for a, b in zip(toks, toks[1:], strict=False):
        if a and b:
            counts[_bucket("b" + a + "|" + b)] += 1
    return counts


def as_arrays(counts: Counter[int]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Bucket ids and sublinear term frequencies (1 + ln tf) of one message."""
    if not counts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    ids = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
    tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
    return ids, 1.0 + np.log(tf)
