"""The built knowledge base: entries + sentence embeddings in a FAISS index + BM25, and hybrid search over them."""

from __future__ import annotations

import json
import math
import os
import shutil
import threading
import time
from collections import Counter
from pathlib import Path

import faiss
import numpy as np

from knowledge_base.bm25 import Bm25Index, tokenize
from knowledge_base.corpus import FaqEntry, corpus_hash
from knowledge_base.embedder import Embedder, cached_encode
from knowledge_base.fusion import Candidates, FusionModel, Mode, load_models, save_models
from knowledge_base.index import DenseIndex, IndexNotBuilt
from knowledge_base.settings import KbSettings

FORMAT_VERSION = 1
# a single query is tiny: threads only add synchronisation cost (measured in bench/kb_bench.py)
faiss.omp_set_num_threads(1)


def build_key(entries: list[FaqEntry], embedder_name: str) -> str:
    import hashlib

    return hashlib.sha256(f"{FORMAT_VERSION}\0{embedder_name}\0{corpus_hash(entries)}".encode()).hexdigest()[:16]


class KbIndex:
    """An immutable, fully built index. Searches read it without locks; a new corpus means a new ``KbIndex``."""

    def __init__(self, *, entries: list[FaqEntry], embedder: Embedder, emb: np.ndarray, dense: DenseIndex,
                 bm25: Bm25Index, key: str, settings: KbSettings, models: dict[str, FusionModel] | None = None):
        self.entries = entries
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
        self.dense = dense
        self.bm25 = bm25
        self.sent_tokens = [frozenset(tokenize(s)) for s in sentences]
        df: Counter[str] = Counter()
        for toks in self.sent_tokens:
            df.update(toks)
        n = len(sentences)
        self._idf_unknown = math.log(1 + (n + 0.5) / 0.5)
        self.idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        self.models: dict[str, FusionModel] = models or {}

    # ------------------------------------------------------------------ build / save / load
    @classmethod
    def build(cls, entries: list[FaqEntry], embedder: Embedder, settings: KbSettings, *,
              progress: bool = False) -> KbIndex:
        sentences = [s for e in entries for s in e.sentences()]
        emb = cached_encode(embedder, sentences, settings.home / "cache", progress=progress)
        dense = DenseIndex.build(emb, exact_max=settings.exact_max_vectors, hnsw_m=settings.hnsw_m,
                                 ef_construction=settings.hnsw_ef_construction, ef_search=settings.hnsw_ef_search)
        bm25 = Bm25Index.build(sentences)
        return cls(entries=entries, embedder=embedder, emb=emb, dense=dense, bm25=bm25,
                   key=build_key(entries, embedder.name), settings=settings)

    def save(self, directory: Path) -> None:
        """Write to a temporary sibling, then rename: a reader sees a complete directory or none."""
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = directory.parent / f".{directory.name}.{os.getpid()}.{threading.get_ident()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        np.save(tmp / "emb.npy", self.emb)
        self.dense.save(tmp / "dense.faiss")
        self.bm25.save(tmp / "bm25")
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
        if meta.get("embedder") != embedder.name:
            raise IndexNotBuilt(directory)
        entries = [FaqEntry.model_validate(d) for d in json.loads((directory / "entries.json").read_text())]
        dense = DenseIndex.load(directory / "dense.faiss")
        dense.set_ef_search(settings.hnsw_ef_search)
        return cls(entries=entries, embedder=embedder, emb=np.load(directory / "emb.npy"), dense=dense,
                   bm25=Bm25Index.load(directory / "bm25"), key=meta["key"], settings=settings,
                   models=load_models(directory / "fusion.json"))

    # ------------------------------------------------------------------ candidates
    def candidates(self, query: str, *, mode: Mode = "hybrid", qvec: np.ndarray | None = None,
                   exclude_sentence: int | None = None) -> Candidates:
        """Union of dense and BM25 candidate entries with all signals. ``exclude_sentence`` hides one corpus
        sentence (leave-one-out training and benchmark protocols)."""
        s = self.settings
        toks = tokenize(query)
        dense_entries: np.ndarray = np.zeros(0, dtype=np.int64)
        bm_scores: np.ndarray | None = None
        if mode != "bm25":
            if qvec is None:
                qvec = self.embedder.encode_query(query)
            k = s.dense_candidates + (1 if exclude_sentence is not None else 0)
            _, ids = self.dense.search(qvec, k)
            ids = ids[0][ids[0] >= 0]
            if exclude_sentence is not None:
                ids = ids[ids != exclude_sentence]
            dense_entries = self.sent_entry[ids]
        sparse_entries: np.ndarray = np.zeros(0, dtype=np.int64)
        if mode != "dense":
            bm_scores = self.bm25.scores(toks)
            if exclude_sentence is not None:
                bm_scores[exclude_sentence] = 0.0
            k = min(s.sparse_candidates, bm_scores.shape[0])
            top = np.argpartition(-bm_scores, k - 1)[:k] if k < bm_scores.shape[0] else np.arange(bm_scores.shape[0])
            top = top[bm_scores[top] > 0]
            sparse_entries = self.sent_entry[top]
        cand = np.unique(np.concatenate([dense_entries, sparse_entries]))
        n = cand.shape[0]
        dense = np.zeros(n, dtype=np.float32)
        bm = np.zeros(n, dtype=np.float32)
        cov = np.zeros(n, dtype=np.float32)
        qset = set(toks)
        weights = {t: self.idf.get(t, self._idf_unknown) for t in qset}
        total = sum(weights.values()) or 1.0
        for j, ei in enumerate(cand):
            sids = np.arange(self.starts[ei], self.starts[ei + 1])
            if exclude_sentence is not None:
                sids = sids[sids != exclude_sentence]
            if sids.size == 0:
                continue
            if mode != "bm25":
                assert qvec is not None
                dense[j] = float((self.emb[sids] @ qvec).max())
            if bm_scores is not None:
                bm[j] = float(bm_scores[sids].max())
                cov[j] = max(sum(weights[t] for t in qset & self.sent_tokens[i]) for i in sids) / total
        oov = (sum(1 for t in qset if t not in self.bm25.vocab) / len(qset)) if qset else 1.0
        return Candidates(entries=cand, dense=dense, bm25=bm, coverage=cov, query_chars=len(query.strip()), oov=oov)

    def rank(self, query: str, *, mode: Mode = "hybrid", exclude_sentence: int | None = None,
             qvec: np.ndarray | None = None) -> tuple[Candidates, np.ndarray, np.ndarray, float]:
        """Candidates, their ranking scores, the order (best first) and the calibrated confidence of the best."""
        c = self.candidates(query, mode=mode, qvec=qvec, exclude_sentence=exclude_sentence)
        model = self.models.get(mode)
        if model is None:
            raise IndexNotBuilt(self.settings.home / f"fusion model for mode {mode!r}")
        if c.entries.size == 0:
            return c, np.zeros(0), np.zeros(0, dtype=np.int64), 0.0
        scores = model.rank(c)
        order = np.argsort(-scores, kind="stable")
        return c, scores, order, model.confidence(c, scores, order)
