"""The built knowledge base and its candidate generation.

Signals per candidate entry: dense (max cosine over the entry's sentences, cosine to the entry centroid, and the
probability of a softmax classifier over the embeddings trained on the corpus sentences, for corpora up to
``classifier_max_entries``), and sparse (BM25 over each sentence, BM25 over the whole entry as one document, and the
idf-weighted share of query words the best sentence contains).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from knowledge_base.bm25 import Bm25Index, tokenize
from knowledge_base.corpus import FaqEntry, corpus_hash
from knowledge_base.embedder import Embedder, cached_encode
from knowledge_base.fusion import Candidates, FusionModel, Mode, load_models, save_models
from knowledge_base.index import DenseIndex, IndexNotBuilt
from knowledge_base.settings import KbSettings

FORMAT_VERSION = 3
# a single query is tiny: threads only add synchronisation cost (measured in bench/kb_bench.py)
faiss.omp_set_num_threads(1)


_threadpools: Any = None


def single_thread_blas() -> Any:
    """A context that limits BLAS to one thread for one query: a matrix-vector product is too small to share, and
    on a busy machine the second BLAS thread spin-waits for a core (measured: 2.6 ms vs 9.3 ms CPU per query on a
    10k-entry corpus, bench/kb_bench.py). Costs ~0.01 ms."""
    global _threadpools
    if _threadpools is None:
        from threadpoolctl import ThreadpoolController

        _threadpools = ThreadpoolController()
    return _threadpools.limit(limits=1, user_api="blas")


def build_key(entries: list[FaqEntry], embedder_name: str) -> str:
    return hashlib.sha256(f"{FORMAT_VERSION}\0{embedder_name}\0{corpus_hash(entries)}".encode()).hexdigest()[:16]


def fit_classifier(emb: np.ndarray, labels: np.ndarray, n_classes: int,
                   init: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression entry classifier; returns (W (n_classes, dim), b) for a numpy softmax.

    ``init``: a starting point, one row per class (a corpus edit keeps most entries: starting from the previous
    weights, the solver converges to the same tolerance in a fraction of the iterations)."""
    from sklearn.linear_model import LogisticRegression

    present = np.unique(labels)
    clf = LogisticRegression(C=10.0, max_iter=300, warm_start=init is not None)
    if init is not None and present.size > 2:
        clf.coef_ = init[0][present].astype(np.float64)
        clf.intercept_ = init[1][present].astype(np.float64)
    with single_thread_blas():  # a second BLAS thread on a busy machine made this 7-18x slower (measured)
        clf.fit(emb, labels)
    w = np.zeros((n_classes, emb.shape[1]), dtype=np.float32)
    b = np.full(n_classes, -30.0, dtype=np.float32)  # an entry without training sentences is never predicted
    w[clf.classes_] = clf.coef_
    b[clf.classes_] = clf.intercept_
    return w, b


def _carried_weights(previous: KbIndex | None, entries: list[FaqEntry],
                     dim: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The previous classifier's rows for the entries it knew, zeros for new entries (None without one)."""
    if previous is None or previous.clf is None or previous.clf[0].shape[1] != dim:
        return None
    w = np.zeros((len(entries), dim), dtype=np.float32)
    b = np.zeros(len(entries), dtype=np.float32)
    for i, e in enumerate(entries):
        j = previous.by_id.get(e.id)
        if j is not None:
            w[i], b[i] = previous.clf[0][j], previous.clf[1][j]
    return w, b


class KbIndex:
    """An immutable, fully built index. Searches read it without locks; a new corpus means a new ``KbIndex``."""

    def __init__(self, *, entries: list[FaqEntry], embedder: Embedder, emb: np.ndarray, dense: DenseIndex,
                 bm25: Bm25Index, entry_bm25: Bm25Index, clf: tuple[np.ndarray, np.ndarray] | None, key: str,
                 settings: KbSettings, models: dict[str, FusionModel] | None = None,
                 neg_emb: np.ndarray | None = None):
        self.entries = entries
        # vectors of known out-of-scope messages (calibration negatives): nearness to them is a decline signal
        self.neg_emb = neg_emb if neg_emb is not None else np.zeros((0, emb.shape[1]), dtype=np.float32)
        self.by_id = {e.id: i for i, e in enumerate(entries)}
        self.embedder = embedder
        self.settings = settings
        self.key = key
        sent_entry: list[int] = []
        sentences: list[str] = []
        for i, e in enumerate(entries):
            for s in e.sentences():
                sentences.append(s)
                sent_entry.append(i)
        self.sentences = sentences
        self.sent_entry = np.asarray(sent_entry, dtype=np.int64)
        # sentences are stored entry by entry, so entry i owns the range [starts[i], starts[i + 1])
        self.starts = np.searchsorted(self.sent_entry, np.arange(len(entries) + 1))
        self.emb = emb
        cent = np.add.reduceat(emb, self.starts[:-1], axis=0) if len(entries) else emb[:0]
        self.centroids = (cent / np.maximum(np.linalg.norm(cent, axis=1, keepdims=True), 1e-9)).astype(np.float32)
        self.dense = dense
        self.bm25 = bm25
        self.entry_bm25 = entry_bm25
        self.clf = clf
        sent_tokens = [frozenset(tokenize(s)) for s in sentences]
        df: Counter[str] = Counter()
        for toks in sent_tokens:
            df.update(toks)
        n = len(sentences)
        self._idf_unknown = math.log(1 + (n + 0.5) / 0.5)
        self.idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        # sentence -> word columns in CSR layout (sentence i owns word_cols[word_ptr[i]:word_ptr[i + 1]]): the coverage
        # of all candidate sentences is a few vectorised gathers instead of a Python loop over set intersections
        self.word_col = {t: j for j, t in enumerate(sorted(df))}
        self.word_ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum([len(t) for t in sent_tokens], out=self.word_ptr[1:])
        self.word_cols = np.fromiter((self.word_col[t] for toks in sent_tokens for t in toks), dtype=np.int64,
                                     count=int(self.word_ptr[-1]))
        self.models: dict[str, FusionModel] = models or {}

    # ------------------------------------------------------------------ build / save / load
    @staticmethod
    def entry_doc(e: FaqEntry) -> str:
        return " ".join([*e.sentences(), *e.tags])

    @classmethod
    def build(cls, entries: list[FaqEntry], embedder: Embedder, settings: KbSettings, *, progress: bool = False,
              emb: np.ndarray | None = None, neg_emb: np.ndarray | None = None,
              previous: KbIndex | None = None) -> KbIndex:
        """Embed (or take ``emb``, one row per sentence), index, and fit the entry classifier; no fusion models.
        ``previous``: the index this one replaces (its classifier is the solver's starting point)."""
        sentences = [s for e in entries for s in e.sentences()]
        if emb is None:
            emb = cached_encode(embedder, sentences, settings.home / "cache", progress=progress)
        dense = DenseIndex.build(emb, exact_max=settings.exact_max_vectors, hnsw_m=settings.hnsw_m,
                                 ef_construction=settings.hnsw_ef_construction, ef_search=settings.hnsw_ef_search)
        bm25 = Bm25Index.build(sentences)
        entry_bm25 = Bm25Index.build([cls.entry_doc(e) for e in entries])
        clf = None
        if 2 <= len(entries) <= settings.classifier_max_entries:
            labels = np.repeat(np.arange(len(entries)), [len(e.sentences()) for e in entries])
            clf = fit_classifier(emb, labels, len(entries), init=_carried_weights(previous, entries, emb.shape[1]))
        return cls(entries=entries, embedder=embedder, emb=emb, dense=dense, bm25=bm25, entry_bm25=entry_bm25,
                   clf=clf, key=build_key(entries, embedder.name), settings=settings, neg_emb=neg_emb)

    def save(self, directory: Path) -> None:
        """Write to a temporary sibling, then rename: a reader sees a complete directory or none."""
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = directory.parent / f".{directory.name}.{os.getpid()}.{threading.get_ident()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        np.save(tmp / "emb.npy", self.emb)
        np.save(tmp / "neg_emb.npy", self.neg_emb)
        if self.clf is not None:
            np.savez(tmp / "classifier.npz", w=self.clf[0], b=self.clf[1])
        self.dense.save(tmp / "dense.faiss")
        self.bm25.save(tmp / "bm25")
        self.entry_bm25.save(tmp / "entry_bm25")
        (tmp / "entries.json").write_text(
            json.dumps([e.model_dump(mode="json") for e in self.entries], ensure_ascii=False))
        save_models(tmp / "fusion.json", self.models)
        (tmp / "meta.json").write_text(json.dumps({"key": self.key, "embedder": self.embedder.name,
                                                   "format": FORMAT_VERSION, "built_at": time.time(),
                                                   "dense_kind": self.dense.kind, "sentences": len(self.sentences)}))
        try:
            os.rename(tmp, directory)
        except OSError:  # another process finished the same build first: theirs is identical
            shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def load(cls, directory: Path, embedder: Embedder, settings: KbSettings) -> KbIndex:
        meta_path = directory / "meta.json"
        if not meta_path.exists():
            raise IndexNotBuilt(directory)
        meta = json.loads(meta_path.read_text())
        if meta.get("embedder") != embedder.name or meta.get("format") != FORMAT_VERSION:
            raise IndexNotBuilt(directory)
        entries = [FaqEntry.model_validate(d) for d in json.loads((directory / "entries.json").read_text())]
        dense = DenseIndex.load(directory / "dense.faiss")
        dense.set_ef_search(settings.hnsw_ef_search)
        clf = None
        if (directory / "classifier.npz").exists():
            z = np.load(directory / "classifier.npz")
            clf = (z["w"], z["b"])
        return cls(entries=entries, embedder=embedder, emb=np.load(directory / "emb.npy"), dense=dense,
                   bm25=Bm25Index.load(directory / "bm25"), entry_bm25=Bm25Index.load(directory / "entry_bm25"),
                   clf=clf, key=meta["key"], settings=settings, models=load_models(directory / "fusion.json"),
                   neg_emb=np.load(directory / "neg_emb.npy"))

    # ------------------------------------------------------------------ candidates
    def candidates(self, query: str, *, mode: Mode = "hybrid", qvec: np.ndarray | None = None) -> Candidates:
        """Union of dense and BM25 candidate entries, with every signal the mode uses."""
        s = self.settings
        toks = tokenize(query)
        parts: list[np.ndarray] = []
        probs: np.ndarray | None = None
        if mode != "bm25":
            if qvec is None:
                qvec = self.embedder.encode_query(query)
            _, ids = self.dense.search(qvec, s.dense_candidates)
            parts.append(self.sent_entry[ids[0][ids[0] >= 0]])
            if mode == "hybrid" and self.clf is not None:
                logits = self.clf[0] @ qvec + self.clf[1]
                logits -= logits.max()
                p = np.exp(logits)
                probs = p / p.sum()
                parts.append(np.argsort(-probs)[:5])
        bm_scores: np.ndarray | None = None
        ebm: np.ndarray | None = None
        if mode != "dense":
            bm_scores = self.bm25.scores(toks)
            k = min(s.sparse_candidates, bm_scores.shape[0])
            top = np.argpartition(-bm_scores, k - 1)[:k] if k < bm_scores.shape[0] else np.arange(bm_scores.shape[0])
            parts.append(self.sent_entry[top[bm_scores[top] > 0]])
            ebm = self.entry_bm25.scores(toks)
        cand = np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)
        n = cand.shape[0]
        qset = set(toks)
        oov = (sum(1 for t in qset if t not in self.bm25.vocab) / len(qset)) if qset else 1.0
        neg_sim = float((self.neg_emb @ qvec).max()) if (qvec is not None and self.neg_emb.shape[0]) else 0.0
        z = np.zeros(n, dtype=np.float32)
        if n == 0:
            return Candidates(entries=cand, dense=z, centroid=z, clf=z, bm25=z, entry_bm25=z, coverage=z,
                              query_chars=len(query.strip()), oov=oov, neg_sim=neg_sim)
        # all sentences of the candidate entries, grouped by entry (ranges are contiguous): vectorised max per entry
        lo, hi = self.starts[cand], self.starts[cand + 1]
        lens = hi - lo
        offsets = np.zeros(n, dtype=np.int64)
        np.cumsum(lens[:-1], out=offsets[1:])
        sids = np.repeat(lo - offsets, lens) + np.arange(int(lens.sum()))
        dense, centroid = z, z
        if mode != "bm25":
            assert qvec is not None
            dense = np.maximum.reduceat(self.emb[sids] @ qvec, offsets).astype(np.float32)
            centroid = (self.centroids[cand] @ qvec).astype(np.float32)
        clf = probs[cand].astype(np.float32) if probs is not None else z
        bm, ebm_c, cov = z, z, np.zeros(n, dtype=np.float32)
        if bm_scores is not None and ebm is not None:
            bsent = bm_scores[sids]
            bm = np.maximum.reduceat(bsent, offsets).astype(np.float32)
            ebm_c = ebm[cand].astype(np.float32)
            known = [t for t in qset if t in self.word_col]
            total = sum(self.idf[t] for t in known) + self._idf_unknown * (len(qset) - len(known))
            if known and total > 0:
                qw = np.zeros(len(self.word_col), dtype=np.float32)
                for t in known:
                    qw[self.word_col[t]] = self.idf[t] / total
                cov = np.maximum.reduceat(self._sentence_sums(sids, qw), offsets).astype(np.float32)
        return Candidates(entries=cand, dense=dense, centroid=centroid, clf=clf, bm25=bm, entry_bm25=ebm_c,
                          coverage=cov, query_chars=len(query.strip()), oov=oov, neg_sim=neg_sim)

    def _sentence_sums(self, sids: np.ndarray, qw: np.ndarray) -> np.ndarray:
        """For each sentence in ``sids``, the sum of ``qw`` over its distinct words."""
        lo, hi = self.word_ptr[sids], self.word_ptr[sids + 1]
        lens = hi - lo
        ends = np.cumsum(lens)
        cols = np.repeat(lo - (ends - lens), lens) + np.arange(int(ends[-1]) if ends.size else 0)
        owner = np.repeat(np.arange(sids.shape[0]), lens)
        return np.bincount(owner, weights=qw[self.word_cols[cols]], minlength=sids.shape[0]).astype(np.float32)

    def rank(self, query: str, *, mode: Mode = "hybrid",
             qvec: np.ndarray | None = None) -> tuple[Candidates, np.ndarray, np.ndarray, float]:
        """Candidates, their ranking scores, the order (best first) and the calibrated confidence of the best."""
        with single_thread_blas():
            return self._rank(query, mode=mode, qvec=qvec)

    def _rank(self, query: str, *, mode: Mode, qvec: np.ndarray | None) -> tuple[Candidates, np.ndarray, np.ndarray,
                                                                                   float]:
        c = self.candidates(query, mode=mode, qvec=qvec)
        model = self.models.get(mode)
        if model is None:
            raise IndexNotBuilt(self.settings.home / f"fusion model for mode {mode!r}")
        if c.entries.size == 0:
            return c, np.zeros(0), np.zeros(0, dtype=np.int64), 0.0
        scores = model.rank(c)
        order = np.argsort(-scores, kind="stable")
        return c, scores, order, model.confidence(c, scores, order)
