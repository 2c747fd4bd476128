"""Question-matching data sets as retrieval and pair-classification benchmarks (protocol fixed by issue 3).

Retrieval: from the positive pairs of a split, every sentence of the split is indexed (one side plus all other
sentences as distractors); each positive pair gives one query (sentence2) whose only relevant document is its
partner (sentence1); the query's own exact text is removed from its ranking; a partner tied with other sentences
counts as expected under a random order of the tie. Pair AUC: the similarity score of every labelled pair.
"""

from __future__ import annotations

import csv
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse
from scipy.stats import rankdata

from knowledge_base.bm25 import Bm25Index, tokenize

# $KEFU_DATASETS if set, else shared/datasets beside the checkout (as the sentiment build looks for them)
DATA = Path(os.environ.get("KEFU_DATASETS", Path(__file__).resolve().parents[3] / "shared" / "datasets"))


def read_pairs(name: str) -> list[tuple[str, str, int]]:
    if name == "afqmc_dev":
        path, delim, header = DATA / "AFQMC" / "dev.txt", "\t", False
    elif name == "afqmc_train":
        path, delim, header = DATA / "AFQMC" / "train.txt", "\t", False
    elif name == "bq_test":
        path, delim, header = DATA / "BQ_corpus" / "test.csv", ",", True
    elif name == "lcqmc_test":
        path, delim, header = DATA / "LCQMC" / "test.txt", "\t", False
    else:
        raise ValueError(name)
    out = []
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter=delim, quoting=csv.QUOTE_NONE if delim == "\t" else csv.QUOTE_MINIMAL)
        if header:
            next(reader)
        for row in reader:
            if len(row) >= 3 and row[2].strip() in ("0", "1") and row[0].strip() and row[1].strip():
                out.append((row[0].strip(), row[1].strip(), int(row[2])))
    return out


@dataclass
class Split:
    sentences: list[str]
    pos: dict[str, int]
    queries: list[int]  # sentence index of each query (sentence2 of a positive pair)
    targets: list[int]  # sentence index of its partner
    pairs: list[tuple[int, int, int]]  # (i, j, label) for every labelled pair


def make_split(pairs: list[tuple[str, str, int]]) -> Split:
    sentences: list[str] = []
    pos: dict[str, int] = {}

    def sid(s: str) -> int:
        if s not in pos:
            pos[s] = len(sentences)
            sentences.append(s)
        return pos[s]

    labelled = [(sid(a), sid(b), y) for a, b, y in pairs]
    queries, targets = [], []
    for i, j, y in labelled:
        if y == 1 and i != j:
            queries.append(j)
            targets.append(i)
    return Split(sentences, pos, queries, targets, labelled)


class Lexical:
    """Sparse signals over a sentence set: BM25 (bm25s over jieba) and character-set overlap."""

    def __init__(self, sentences: list[str]):
        self.bm25 = Bm25Index.build(sentences)
        chars = sorted({c for s in sentences for c in s})
        self.cidx = {c: k for k, c in enumerate(chars)}
        rows, cols = [], []
        for r, s in enumerate(sentences):
            for c in set(s):
                rows.append(r)
                cols.append(self.cidx[c])
        self.cm = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                                    shape=(len(sentences), len(chars)))
        self.nchars = np.asarray(self.cm.sum(axis=1)).ravel()

    def char_jaccard(self, q: str) -> np.ndarray:
        cols = [self.cidx[c] for c in set(q) if c in self.cidx]
        inter = np.asarray(self.cm[:, cols].sum(axis=1)).ravel() if cols else np.zeros(self.cm.shape[0])
        return inter / np.maximum(len(set(q)) + self.nchars - inter, 1)


def _ranks(s: np.ndarray) -> np.ndarray:
    """1-based ranks, best first; tied scores share their average rank (no method gains from an arbitrary order)."""
    return rankdata(-s, method="average")


Rank = tuple[int, int]  # (candidates scored above the partner, candidates tied with it)


def ranks_for_split(split: Split, emb: np.ndarray, lex: Lexical, emb_a: np.ndarray | None = None,
                    limit: int | None = None, seed: int = 0) -> dict[str, list[Rank]]:
    """Where the partner lands for every query, per method: dense (USE), dense_adapted (USE + adapter), bm25,
    rrf (USE + BM25, the issue's baseline) and hybrid (reciprocal-rank fusion k=60 of the adapted dense ranking
    and BM25: no weight fitted anywhere)."""
    idx = list(range(len(split.queries)))
    if limit is not None and len(idx) > limit:
        idx = sorted(random.Random(seed).sample(idx, limit))
    out: dict[str, list[Rank]] = {}
    for k in idx:
        qi, ti = split.queries[k], split.targets[k]
        q = split.sentences[qi]
        scores = {"dense": emb @ emb[qi], "bm25": lex.bm25.scores(tokenize(q)).astype(np.float64)}
        if emb_a is not None:
            scores["dense_adapted"] = emb_a @ emb_a[qi]
        for s in scores.values():
            s[qi] = -np.inf  # the query's own text is not a candidate
        r = {m: _ranks(s) for m, s in scores.items()}
        scores["rrf"] = 1 / (60 + r["dense"]) + 1 / (60 + r["bm25"])
        if emb_a is not None:
            scores["hybrid"] = 1 / (60 + r["dense_adapted"]) + 1 / (60 + r["bm25"])
        for m, s in scores.items():
            s = np.asarray(s, dtype=np.float64)
            s[qi] = -np.inf
            out.setdefault(m, []).append((int((s > s[ti]).sum()), int((s == s[ti]).sum()) - 1))
    return out


def pair_features(split: Split, emb: np.ndarray, lex: Lexical,
                  pairs: list[tuple[int, int, int]] | None = None) -> np.ndarray:
    """Per labelled pair: cosine, BM25(b -> a) / BM25(a -> a), character Jaccard, word Jaccard, length difference."""
    feats = []
    for i, j, _ in split.pairs if pairs is None else pairs:
        a, b = split.sentences[i], split.sentences[j]
        ta, tb = set(tokenize(a)), set(tokenize(b))
        ca, cb = set(a), set(b)
        bm_ab = float(lex.bm25.scores(list(tb))[i])
        bm_aa = float(lex.bm25.scores(list(ta))[i]) or 1.0
        feats.append([float(emb[i] @ emb[j]), bm_ab / bm_aa, len(ca & cb) / max(len(ca | cb), 1),
                      len(ta & tb) / max(len(ta | tb), 1), abs(len(a) - len(b)) / max(len(a), len(b))])
    return np.asarray(feats)


def metrics(ranks: list[Rank]) -> dict[str, float]:
    """Top-1 and MRR expected under a random order among tied scores (BM25 ties often: sentences with the same
    words score the same). ``top1_ties_won`` counts a tie at the top as a hit (the first version of this bench)."""
    top1 = [1.0 / (t + 1) if a == 0 else 0.0 for a, t in ranks]
    rr = [float(np.mean(1.0 / np.arange(a + 1, a + t + 2))) for a, t in ranks]
    won = [a == 0 for a, _ in ranks]
    return {"top1": round(float(np.mean(top1)), 4), "mrr": round(float(np.mean(rr)), 4),
            "top1_ties_won": round(float(np.mean(won)), 4), "n": len(ranks)}
