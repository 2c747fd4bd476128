"""Question-matching data sets as retrieval and pair-classification benchmarks (protocol fixed by issue 3).

Retrieval: from the positive pairs of a split, every sentence of the split is indexed (one side plus all other
sentences as distractors); each positive pair gives one query (sentence2) whose only relevant document is its
partner (sentence1); the query's own exact text is removed from its ranking. Pair AUC: the similarity score of
every labelled pair.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from knowledge_base.bm25 import Bm25Index, tokenize
from knowledge_base.fusion import LinearModel

DATA = Path("/work/shared/datasets")


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


def retrieval_features(cos: np.ndarray, bm: np.ndarray, cj: np.ndarray) -> np.ndarray:
    bmax = bm.max() if bm.size and bm.max() > 0 else 1.0
    return np.stack([cos, cos - cos.max(), bm / bmax, bm / (bm + 5.0), cj], axis=1)


def ranks_for_split(split: Split, emb: np.ndarray, lex: Lexical, fusion: LinearModel | None,
                    limit: int | None = None, seed: int = 0) -> dict[str, list[int]]:
    """Rank of the partner for every query, per method (dense, bm25, rrf, hybrid)."""
    idx = list(range(len(split.queries)))
    if limit is not None and len(idx) > limit:
        idx = sorted(random.Random(seed).sample(idx, limit))
    out: dict[str, list[int]] = {"dense": [], "bm25": [], "rrf": [], "hybrid": []}
    for k in idx:
        qi, ti = split.queries[k], split.targets[k]
        q = split.sentences[qi]
        cos = emb @ emb[qi]
        bm = lex.bm25.scores(tokenize(q))
        cj = lex.char_jaccard(q)
        scores = {"dense": cos.copy(), "bm25": bm.astype(np.float64)}
        rd = np.empty(len(cos))
        rd[np.argsort(-cos, kind="stable")] = np.arange(1, len(cos) + 1)
        rb = np.empty(len(bm))
        rb[np.argsort(-bm, kind="stable")] = np.arange(1, len(bm) + 1)
        scores["rrf"] = 1 / (60 + rd) + 1 / (60 + rb)
        if fusion is not None:
            scores["hybrid"] = fusion.logit(retrieval_features(cos, bm, cj))
        for m, s in scores.items():
            s = np.asarray(s, dtype=np.float64)
            s[qi] = -np.inf  # the query's own text is not a candidate
            out[m].append(int((s > s[ti]).sum()) + 1)
    return out


def train_retrieval_fusion(split: Split, emb: np.ndarray, lex: Lexical, *, limit: int = 3000,
                           negatives_per_query: int = 30) -> LinearModel:
    """Pointwise LR over retrieval features: the partner vs the top dense/BM25 competitors plus as many random
    sentences (so the model also sees the bulk of the ranking it is applied to), AFQMC train only."""
    rng = random.Random(1)
    idx = list(range(len(split.queries)))
    if len(idx) > limit:
        idx = rng.sample(idx, limit)
    xs, ys = [], []
    for k in idx:
        qi, ti = split.queries[k], split.targets[k]
        q = split.sentences[qi]
        cos = emb @ emb[qi]
        bm = lex.bm25.scores(tokenize(q))
        f = retrieval_features(cos, bm, lex.char_jaccard(q))
        cos[qi] = -np.inf
        bm = bm.astype(np.float64)
        bm[qi] = -np.inf
        cands = set(np.argsort(-cos)[:negatives_per_query]) | set(np.argsort(-bm)[:negatives_per_query])
        cands |= {int(x) for x in rng.sample(range(len(cos)), min(negatives_per_query, len(cos)))}
        cands.discard(qi)
        cands.add(ti)
        for c in cands:
            xs.append(f[c])
            ys.append(int(c == ti))
    return LinearModel.fit(np.stack(xs), np.asarray(ys), balanced=False)


def pair_features(split: Split, emb: np.ndarray, lex: Lexical) -> np.ndarray:
    feats = []
    for i, j, _ in split.pairs:
        a, b = split.sentences[i], split.sentences[j]
        ta, tb = set(tokenize(a)), set(tokenize(b))
        ca, cb = set(a), set(b)
        bm_ab = float(lex.bm25.scores(list(tb))[i])
        bm_aa = float(lex.bm25.scores(list(ta))[i]) or 1.0
        feats.append([float(emb[i] @ emb[j]), bm_ab / bm_aa, len(ca & cb) / max(len(ca | cb), 1),
                      len(ta & tb) / max(len(ta | tb), 1), abs(len(a) - len(b)) / max(len(a), len(b))])
    return np.asarray(feats)


def metrics(ranks: list[int]) -> dict[str, float]:
    r = np.asarray(ranks)
    return {"top1": round(float((r == 1).mean()), 4), "mrr": round(float((1.0 / r).mean()), 4), "n": int(r.size)}
