"""Sparse retrieval: BM25 (the ``bm25s`` library) over jieba word tokens."""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path

import bm25s
import jieba
import numpy as np

jieba.setLogLevel(logging.WARNING)

_PUNCT = re.compile(r"[\s\u3000-\u303f\uff00-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65!-/:-@\[-`{-~…—·]+")
# function words that carry no topic; question words (怎么, 多久, 哪里 ...) are kept because they separate intents
STOPWORDS = frozenset(
    "的 了 吗 呢 吧 啊 呀 哦 嘛 么 我 你 您 我们 你们 他 她 它 是 在 有 和 与 就 都 也 还 又 这 那 这个 那个 "
    "一下 请问 请 麻烦 亲 一个 个 想 要 能 可以 会".split()
)


@lru_cache(maxsize=8192)
def _cut(text: str) -> tuple[str, ...]:
    # search mode also yields the sub-words of long words ("开发票" -> 开发, 发票, 开发票), so "开发票" matches "发票"
    return tuple(jieba.lcut_for_search(text.lower(), HMM=True))


def tokenize(text: str) -> list[str]:
    """jieba words, lower-cased, without punctuation or stop words; falls back to characters for all-stopword text."""
    words = [w for w in _cut(_PUNCT.sub(" ", text)) if w.strip()]
    kept = [w for w in words if w not in STOPWORDS]
    return kept if kept else words


class Bm25Index:
    """BM25 over a list of documents (sentences); ``scores`` gives every document's score for one query."""

    def __init__(self, retriever: bm25s.BM25):
        self.retriever = retriever
        self.vocab: dict[str, int] = retriever.vocab_dict

    @classmethod
    def build(cls, docs: list[str], *, k1: float = 1.2, b: float = 0.75) -> Bm25Index:
        tokens = [tokenize(d) or ["<empty>"] for d in docs]
        retriever = bm25s.BM25(k1=k1, b=b)
        retriever.index(tokens, show_progress=len(docs) > 20_000)
        return cls(retriever)

    @property
    def size(self) -> int:
        return int(self.retriever.scores["num_docs"])

    def known(self, tokens: list[str]) -> list[str]:
        return [t for t in tokens if t in self.vocab]

    def scores(self, query: str | list[str]) -> np.ndarray:
        toks = tokenize(query) if isinstance(query, str) else query
        ids = [self.vocab[t] for t in toks if t in self.vocab]
        if not ids:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.retriever.get_scores_from_ids(ids), dtype=np.float32)

    def search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        s = self.scores(query)
        k = min(k, s.shape[0])
        top = np.argpartition(-s, k - 1)[:k] if k < s.shape[0] else np.arange(s.shape[0])
        top = top[np.argsort(-s[top], kind="stable")]
        return s[top], top

    def save(self, path: Path) -> None:
        self.retriever.save(str(path))

    @classmethod
    def load(cls, path: Path) -> Bm25Index:
        return cls(bm25s.BM25.load(str(path)))
