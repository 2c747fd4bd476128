"""Dense vector index over sentence embeddings: exact inner product for small corpora, HNSW above a size threshold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faiss
import numpy as np


class IndexNotBuilt(FileNotFoundError):
    """No saved index at ``path`` (run ``kefu kb build``)."""

    def __init__(self, path: Path):
        self.path = path
        super().__init__(f"no knowledge-base index at {path}; run `kefu kb build`")


class DenseIndex:
    """Inner-product search over L2-normalised vectors (= cosine similarity).

    ``kind`` is ``"exact"`` (``IndexFlatIP``) or ``"hnsw"`` (``IndexHNSWFlat`` with inner-product metric); ``auto``
    picks exact up to ``exact_max`` vectors, where a flat scan still beats HNSW's recall/latency trade-off on this
    hardware (measured by ``bench/kb_bench.py``).
    """

    def __init__(self, index: faiss.Index, kind: str):
        self.index = index
        self.kind = kind

    @classmethod
    def build(cls, vectors: np.ndarray, *, kind: str = "auto", exact_max: int = 5_000, hnsw_m: int = 32,
              ef_construction: int = 80, ef_search: int = 128) -> DenseIndex:
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        if x.ndim != 2:
            raise ValueError("vectors must be a 2-d array")
        if kind == "auto":
            kind = "exact" if x.shape[0] <= exact_max else "hnsw"
        index: faiss.Index
        if kind == "exact":
            index = faiss.IndexFlatIP(x.shape[1])
        elif kind == "hnsw":
            hnsw = faiss.IndexHNSWFlat(x.shape[1], hnsw_m, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = ef_construction
            hnsw.hnsw.efSearch = ef_search
            index = hnsw
        else:
            raise ValueError(f"unknown index kind {kind!r}")
        index.add(x)
        return cls(index, kind)

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def set_ef_search(self, ef: int) -> None:
        if self.kind == "hnsw":
            hnsw: Any = faiss.downcast_index(self.index)
            hnsw.hnsw.efSearch = ef

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, ids) per query row; ids are -1 where fewer than ``k`` vectors exist."""
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(k, self.size)) if self.size else 1
        scores, ids = self.index.search(q, k)
        return scores, ids

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path) -> DenseIndex:
        if not path.exists():
            raise IndexNotBuilt(path)
        index = faiss.read_index(str(path))
        kind = "hnsw" if isinstance(faiss.downcast_index(index), faiss.IndexHNSW) else "exact"
        return cls(index, kind)
