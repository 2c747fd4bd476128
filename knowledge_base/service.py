"""``KnowledgeBase``: the process-wide FAQ service with hot reload, and its typed answers.

The corpus comes from a store (:mod:`knowledge_base.store`): the database shared by every process by default, or a
YAML directory. A watcher thread re-indexes when the store's marker (the corpus revision) changes: at once on a
Redis notice when ``redis_url`` is set, else by polling; queries keep using the old index until the new one is
swapped in.

A changed sentence set is served in two steps, so that content staff see a new entry answered within seconds: first
an index of the new corpus that reuses the vectors of unchanged sentences and the previous build's ranker and
calibrator (they score candidates, not entries) -- a reload, even ``reload(wait=True)``, is done at that point --
then, once they are retrained in the background by cross-fitting on the new corpus (seconds to a minute), the full
build, which is also saved.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import shutil
import threading
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from knowledge_base.calibrate import load_negatives, negatives_digest, train_models
from knowledge_base.corpus import CorpusError, FaqEntry
from knowledge_base.embedder import Embedder, cached_encode, make_embedder
from knowledge_base.fusion import Mode, decide
from knowledge_base.index import IndexNotBuilt
from knowledge_base.notify import RedisListener
from knowledge_base.retrieval import KbIndex, build_key
from knowledge_base.settings import KbSettings, get_kb_settings
from knowledge_base.store import CorpusStore
from knowledge_base.stores import open_store

log = logging.getLogger(__name__)

Decision = Literal["answer", "clarify", "decline"]


class FaqHit(BaseModel):
    """One matching FAQ entry. ``score`` is the ranker's probability that this entry is the one asked about."""

    model_config = ConfigDict(frozen=True)

    id: str
    question: str
    answer: str
    category: str
    score: float


class KbAnswer(BaseModel):
    """What the knowledge base makes of a question.

    ``decision``: ``answer`` (send ``hit.answer``), ``clarify`` (offer ``alternatives``, the top 3, as
    "您是不是想问…") or ``decline`` (not about the shop: the dialogue treats it as out of scope; ``hit`` is None).
    ``confidence`` is the calibrated probability that the top hit is right.
    """

    model_config = ConfigDict(frozen=True)

    query: str
    decision: Decision
    hit: FaqHit | None
    alternatives: list[FaqHit]
    confidence: float


def load_build(entries: list[FaqEntry], embedder: Embedder, settings: KbSettings,
               negatives: list[str]) -> KbIndex | None:
    """The saved build for exactly this corpus + embedder + negatives, or None."""
    directory = build_directory(entries, embedder, settings, negatives)
    try:
        loaded = KbIndex.load(directory, embedder, settings)
    except (IndexNotBuilt, FileNotFoundError, ValueError, KeyError) as exc:
        log.info("no saved knowledge base %s (%s)", directory.name, type(exc).__name__)
        return None
    # the key covers the indexed sentences only: answers, categories and tags come from the corpus as it is now
    return loaded if loaded.entries == entries else _with_entries(loaded, entries)


def reuse_vectors(live: KbIndex, entries: list[FaqEntry], embedder: Embedder, settings: KbSettings) -> np.ndarray:
    """One vector per sentence of ``entries``: the live index's for sentences it has, the embedder's for new ones."""
    sentences = [s for e in entries for s in e.sentences()]
    known = {s: i for i, s in enumerate(x for e in live.entries for x in e.sentences())}
    new = sorted({s for s in sentences if s not in known})
    if len(new) == len(set(sentences)):
        return cached_encode(embedder, sentences, settings.home / "cache")
    fresh = embedder.encode(new) if new else np.zeros((0, live.emb.shape[1]), dtype=live.emb.dtype)
    row = {s: i for i, s in enumerate(new)}
    return np.stack([live.emb[known[s]] if s in known else fresh[row[s]] for s in sentences]).astype(live.emb.dtype)


def build_index(entries: list[FaqEntry], embedder: Embedder, settings: KbSettings, *, progress: bool = False,
                save: bool = True) -> KbIndex:
    """Load the saved build for exactly this corpus + embedder, or build, train the calibrators and save it."""
    negatives = load_negatives(settings.negatives_file)
    loaded = load_build(entries, embedder, settings, negatives)
    if loaded is not None:
        return loaded
    directory = build_directory(entries, embedder, settings, negatives)
    neg_emb = cached_encode(embedder, negatives, settings.home / "cache", progress=progress)
    kb = KbIndex.build(entries, embedder, settings, progress=progress, neg_emb=neg_emb)
    extra = f" + sample of {settings.negatives_file}" if settings.negatives_file else ""
    kb.models = train_models(kb, negatives, extra_source=extra)
    if save:
        kb.save(directory)
        _prune_builds(settings.home / "builds", keep=4)
    return kb


def build_directory(entries: list[FaqEntry], embedder: Embedder, settings: KbSettings,
                    negatives: list[str] | None = None) -> Path:
    """Where the build of this corpus + embedder + calibration negatives is saved (under ``settings.home``)."""
    if negatives is None:
        negatives = load_negatives(settings.negatives_file)
    # the calibrators are trained on the negatives too: with a public set added or removed it is another build
    return settings.home / "builds" / f"{build_key(entries, embedder.name)}-{negatives_digest(negatives)}"


def _prune_builds(builds: Path, *, keep: int) -> None:
    """Drop all but the newest ``keep`` builds (another process may still serve one of the recent ones)."""
    dirs = sorted((d for d in builds.iterdir() if d.is_dir() and not d.name.startswith(".")),
                  key=lambda d: d.stat().st_mtime, reverse=True)
    for d in dirs[keep:]:
        shutil.rmtree(d, ignore_errors=True)


def _with_entries(idx: KbIndex, entries: list[FaqEntry]) -> KbIndex:
    """The same built index (identical sentences, so identical vectors) carrying the entries' current content."""
    swapped = copy.copy(idx)
    swapped.entries = entries
    swapped.by_id = {e.id: i for i, e in enumerate(entries)}
    return swapped


class KnowledgeBase:
    """The FAQ knowledge base. Thread-safe: searches read an immutable ``KbIndex`` that a reload swaps atomically.

    >>> kb = get_knowledge_base()                     # doctest: +SKIP
    >>> kb.ask("退款多久能到账").decision               # doctest: +SKIP
    'answer'
    """

    def __init__(self, settings: KbSettings | None = None, *, store: CorpusStore | None = None,
                 embedder: Embedder | None = None, watch: bool = True, progress: bool = False):
        """``store``: where the corpus is read from (default: the one ``settings`` name, see
        :func:`knowledge_base.stores.open_store`). ``watch``: re-index in the background when it changes."""
        self.settings = settings or get_kb_settings()
        self._owns_store = store is None
        self.store: CorpusStore = store if store is not None else open_store(self.settings)
        self.embedder = embedder or make_embedder(self.settings.embedder, threads=self.settings.build_threads,
                                                  query_threads=self.settings.use_threads,
                                                  cache_size=self.settings.query_cache_size)
        self._reload_lock = threading.Lock()
        self._recalibrate_lock = threading.Lock()
        self._marker, entries = self.store.snapshot()
        self._index = build_index(entries, self.embedder, self.settings, progress=progress)
        self.last_error: CorpusError | None = None
        self.reloads = 0
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._listener: RedisListener | None = None
        if watch:
            if self.settings.redis_url:
                self._listener = RedisListener(self.settings.redis_url, self.settings.redis_channel,
                                               fallback_poll_s=self.settings.reload_poll_s)
            self._watcher = threading.Thread(target=self._watch, name="kb-reload", daemon=True)
            self._watcher.start()

    @property
    def corpus_dir(self) -> Path:
        """The YAML corpus directory of the settings (the seed when the corpus is in a database)."""
        return self.settings.corpus_dir

    @property
    def marker(self) -> str:
        """The store marker (corpus revision) the live index was built from."""
        return self._marker

    @property
    def index(self) -> KbIndex:
        return self._index

    # ------------------------------------------------------------------ queries
    def search(self, query: str, k: int = 5, *, mode: Mode = "hybrid") -> list[FaqHit]:
        """Top-``k`` entries for ``query``, best first (no decision)."""
        idx = self._index  # one read: the whole search uses one consistent index
        c, scores, order, _ = idx.rank(query, mode=mode)
        return [_to_hit(idx, int(c.entries[j]), float(scores[j]), mode) for j in order[:k]]

    def ask(self, query: str, *, mode: Mode = "hybrid") -> KbAnswer:
        """Search and decide: answer, clarify with the top 3, or decline (out of scope)."""
        text = (query or "").strip()
        if not text:
            return KbAnswer(query=query, decision="decline", hit=None, alternatives=[], confidence=0.0)
        idx = self._index
        c, scores, order, conf = idx.rank(text, mode=mode)
        if order.size == 0:
            return KbAnswer(query=query, decision="decline", hit=None, alternatives=[], confidence=0.0)
        decision = decide(conf, answer_threshold=self.settings.answer_threshold,
                          clarify_threshold=self.settings.clarify_threshold)
        hits = [_to_hit(idx, int(c.entries[j]), float(scores[j]), mode) for j in order[:3]]
        if decision == "decline":
            return KbAnswer(query=query, decision="decline", hit=None, alternatives=[], confidence=conf)
        alternatives = hits if decision == "clarify" else []
        return KbAnswer(query=query, decision=decision, hit=hits[0], alternatives=alternatives, confidence=conf)  # type: ignore[arg-type]

    def entry(self, entry_id: str) -> FaqEntry | None:
        idx = self._index
        i = idx.by_id.get(entry_id)
        return idx.entries[i] if i is not None else None

    def entries(self) -> list[FaqEntry]:
        return list(self._index.entries)

    # ------------------------------------------------------------------ reload
    def reload(self, wait: bool = False) -> None:
        """Re-read the corpus and re-index it; swap in the new index when complete. Background unless ``wait``.
        With ``wait=True`` a ``CorpusError`` is raised to the caller; in the background it is logged and kept in
        ``last_error`` while the old index keeps serving."""
        if wait:
            self._reload_now()
            return
        threading.Thread(target=self._reload_safely, name="kb-reload-once", daemon=True).start()

    def _reload_now(self) -> None:
        with self._reload_lock:
            marker, entries = self.store.snapshot()
            if build_key(entries, self.embedder.name) != self._index.key:
                self._rebuild(marker, entries)
            elif entries != self._index.entries:  # same sentences, edited answers/tags: swap without re-embedding
                self._index = _with_entries(self._index, entries)
                self.reloads += 1
                log.info("knowledge base content updated (corpus %s)", marker)
            self._marker = marker
            self.last_error = None

    def _rebuild(self, marker: str, entries: list[FaqEntry]) -> None:
        """The sentences changed: swap in a provisional index at once; the calibrators follow in the background."""
        negatives = load_negatives(self.settings.negatives_file)
        saved = load_build(entries, self.embedder, self.settings, negatives)
        if saved is not None:  # another process of this machine built it already
            self._swap(saved, marker, "loaded")
            return
        live = self._index
        emb = reuse_vectors(live, entries, self.embedder, self.settings)
        neg_emb = live.neg_emb if live.neg_emb is not None and live.neg_emb.shape[0] == len(negatives) else None
        if neg_emb is None:
            neg_emb = cached_encode(self.embedder, negatives, self.settings.home / "cache")
        provisional = KbIndex.build(entries, self.embedder, self.settings, emb=emb, neg_emb=neg_emb, previous=live)
        if not live.models:  # nothing to borrow: train before serving
            self._swap(self._trained(provisional, entries, negatives), marker, "built")
            return
        provisional.models = dict(live.models)  # the previous calibration until the new one is trained
        self._swap(provisional, marker, "provisional")
        threading.Thread(target=self._recalibrate, args=(provisional, entries, negatives), name="kb-recalibrate",
                         daemon=True).start()

    def _trained(self, index: KbIndex, entries: list[FaqEntry], negatives: list[str]) -> KbIndex:
        """``index`` with ranker and calibrators cross-fitted on its own corpus; the build is saved."""
        trained = copy.copy(index)
        extra = f" + sample of {self.settings.negatives_file}" if self.settings.negatives_file else ""
        trained.models = train_models(index, negatives, extra_source=extra)
        trained.save(build_directory(entries, self.embedder, self.settings, negatives))
        _prune_builds(self.settings.home / "builds", keep=4)
        return trained

    def _recalibrate(self, provisional: KbIndex, entries: list[FaqEntry], negatives: list[str]) -> None:
        """Train for ``provisional`` and swap the result in, unless a newer corpus is served by then (one training
        at a time: a burst of edits trains for the last one only)."""
        _lower_thread_priority()
        if self._stop.wait(self.settings.recalibrate_delay_s):
            return
        with self._recalibrate_lock:
            if self._index is not provisional:
                return
            try:
                trained = self._trained(provisional, entries, negatives)
            except Exception:  # the provisional index keeps serving; the next edit trains again
                log.exception("knowledge base recalibration failed")
                return
            with self._reload_lock:
                if self._index is provisional:
                    self._index = trained  # same corpus, now calibrated on it
                    log.info("knowledge base recalibrated on the new corpus (%d entries)", len(entries))

    def _swap(self, index: KbIndex, marker: str, how: str) -> None:
        self._index = index  # atomic reference swap: a search in flight keeps the index it read
        self._marker = marker
        self.reloads += 1
        log.info("knowledge base reloaded (%s): %d entries (corpus %s)", how, len(index.entries), marker)

    def _reload_safely(self) -> None:
        try:
            self._reload_now()
        except CorpusError as exc:
            self.last_error = exc
            log.error("corpus change rejected, still serving the previous index: %s", exc)
        except Exception:  # keep serving the old index whatever went wrong with the new one
            log.exception("knowledge base reload failed")

    def _watch(self) -> None:
        while not self._stop.is_set():
            if self._listener is not None:
                self._listener.wait(self.settings.redis_backstop_poll_s, self._stop)
            else:
                self._stop.wait(self.settings.reload_poll_s)
            if self._stop.is_set():
                return
            try:
                marker = self.store.marker()
            except Exception as exc:  # database away for a moment: keep serving, look again next time
                log.warning("cannot read the FAQ corpus revision: %s", exc)
                continue
            if marker != self._marker:
                self._reload_safely()
                if self.last_error is not None:
                    self._marker = marker  # do not retry a broken corpus every second; the next edit retries

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
        close_store = getattr(self.store, "close", None)
        if self._owns_store and close_store is not None:
            close_store()


def _lower_thread_priority(niceness: int = 10) -> None:
    """Run the calling thread at a lower CPU priority (Linux schedules threads one by one; elsewhere a no-op)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except (AttributeError, OSError):
        pass


def _to_hit(idx: KbIndex, ei: int, score: float, mode: Mode) -> FaqHit:
    e = idx.entries[ei]
    prob = score if mode == "dense" else 1.0 / (1.0 + math.exp(-score))
    return FaqHit(id=e.id, question=e.question, answer=e.answer, category=e.category, score=round(float(prob), 4))


_singleton: KnowledgeBase | None = None
_singleton_lock = threading.Lock()


def get_knowledge_base() -> KnowledgeBase:
    """The process-wide knowledge base over the corpus store of the settings (the database, seeded from the YAML
    when empty): loads its saved build from ``var/kb`` (building it if missing) and starts the reload watcher."""
    global _singleton
    with _singleton_lock:
        if _singleton is None:
            _singleton = KnowledgeBase()
        return _singleton


def search(query: str, k: int = 5) -> list[FaqHit]:
    """Module-level shortcut for ``get_knowledge_base().search(query, k)``."""
    return get_knowledge_base().search(query, k)
