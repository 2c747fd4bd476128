"""Search latency of the knowledge base on large corpora built from real sentences and their real USE vectors.

- ``raw_index_latency``: exact flat scan vs HNSW on real USE vectors (recall@1/10/50 of HNSW against the exact scan),
  the measurement behind ``KbSettings.exact_max_vectors`` and ``hnsw_ef_search``;
- ``kb_latency``: ``KbIndex.rank`` (query encoding included, no query cache) on synthetic 10k- and 100k-entry corpora,
  plus how often the automatically chosen index gives the same top entry as an exact index over the same vectors.

The sentences are the questions of the public question-matching sets (AFQMC train and dev, LCQMC test, BQ test;
customer-service and open-domain questions) encoded once with USE; they serve as corpus text only, nothing is trained
on them here. Queries are the project's dev set plus sentences held out of the corpus.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from kb_tools.public_sets import make_split, read_pairs

POOL_SPLITS = ("afqmc_train", "lcqmc_test", "afqmc_dev", "bq_test")
NOW = datetime(2026, 11, 24, tzinfo=UTC)


def _pct(xs: list[float], p: float) -> float:
    return round(float(np.percentile(xs, p)), 3)


def real_pool(embedder: Any, cache: Path, log: Any) -> tuple[list[str], np.ndarray]:
    """Every distinct sentence of the public splits with its USE vector (cached by the same key as the public
    section), in a fixed shuffled order."""
    from knowledge_base.embedder import cached_encode

    texts: list[str] = []
    vecs: list[np.ndarray] = []
    seen: set[str] = set()
    for name in POOL_SPLITS:
        sents = make_split(read_pairs(name)).sentences
        log(f"latency pool: {name} ({len(sents)} sentences)")
        x = cached_encode(embedder, sents, cache, progress=True)
        keep = [i for i, s in enumerate(sents) if s not in seen and len(s.strip()) >= 2]  # FaqEntry's minimum
        seen.update(sents)
        texts.extend(sents[i] for i in keep)
        vecs.append(x[keep])
    order = np.random.default_rng(11).permutation(len(texts))
    return [texts[i] for i in order], np.concatenate(vecs)[order]


def raw_index_latency(pool: np.ndarray, queries: np.ndarray, sizes: list[int], *, ef_search: int, hnsw_m: int,
                      k: int = 50, log: Any = print) -> dict[str, Any]:
    """CPU time per single-query search (one thread) of a flat scan and of HNSW over the first ``n`` pool vectors."""
    from knowledge_base.index import DenseIndex

    out: dict[str, Any] = {"queries": int(queries.shape[0]), "k": k, "ef_search": ef_search, "hnsw_m": hnsw_m}
    for n in sizes:
        x = pool[:n]
        row: dict[str, Any] = {}
        found: dict[str, np.ndarray] = {}
        for kind in ("exact", "hnsw"):
            t0 = time.perf_counter()
            idx = DenseIndex.build(x, kind=kind, hnsw_m=hnsw_m, ef_search=ef_search)
            build_s = time.perf_counter() - t0
            for v in queries[:20]:
                idx.search(v, k)
            cpu, ids = [], []
            for v in queries:
                c0 = time.thread_time()
                ids.append(idx.search(v, k)[1][0])
                cpu.append((time.thread_time() - c0) * 1000)
            found[kind] = np.stack(ids)
            row[kind] = {"cpu_p50_ms": _pct(cpu, 50), "cpu_p99_ms": _pct(cpu, 99), "build_s": round(build_s, 1)}
        truth, got = found["exact"], found["hnsw"]
        for r in (1, 10, 50):
            row[f"hnsw_recall@{r}"] = round(float(np.mean([len(set(a[:r]) & set(b[:r])) / r
                                                            for a, b in zip(truth, got, strict=True)])), 4)
        out[str(n)] = row
        log(f"raw index {n}: {row}")
    return out


def kb_latency(kb: Any, texts: list[str], pool: np.ndarray, queries: list[str], sizes: list[int], home: Path,
               log: Any = print) -> dict[str, Any]:
    """Search latency of synthetic KBs: ``n`` entries of question + one paraphrase up to 10k entries, question only
    above (so 100k entries fit in the pool), each sentence a real public-set question with its real vector."""
    from knowledge_base.corpus import FaqEntry
    from knowledge_base.embedder import make_embedder
    from knowledge_base.index import DenseIndex
    from knowledge_base.retrieval import KbIndex
    from knowledge_base.settings import KbSettings

    res: dict[str, Any] = {}
    for n_entries in sizes:
        per = 2 if n_entries <= 10_000 else 1
        n_sent = per * n_entries
        if n_sent > len(texts):
            raise ValueError(f"{n_entries} entries need {n_sent} sentences, the pool has {len(texts)}")
        entries = [FaqEntry(id=f"e{i}", category="general", question=texts[per * i],
                            paraphrases=texts[per * i + 1 : per * i + per], answer="您好，这是合成条目。",
                            updated_at=NOW) for i in range(n_entries)]
        settings = KbSettings(home=home)
        t0 = time.perf_counter()
        idx = KbIndex.build(entries, kb.embedder, settings, emb=pool[:n_sent], neg_emb=kb.index.neg_emb)
        build_s = time.perf_counter() - t0
        idx.models = kb.index.models  # the real KB's fusion models (no entry classifier above 2000 entries)
        fresh = make_embedder("use", threads=1, query_threads=1, cache_size=0)  # no query cache: encode every time
        idx.embedder = fresh
        for q in queries[:20]:
            idx.rank(q)
        lat, cpu, enc, rest, tops = [], [], [], [], []
        for q in queries:
            c0 = time.thread_time()
            t0 = time.perf_counter()
            c, _, order, _ = idx.rank(q)
            lat.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.thread_time() - c0) * 1000)
            tops.append(int(c.entries[order[0]]) if order.size else -1)
            c0 = time.thread_time()
            v = fresh.encode_query(q)
            enc.append((time.thread_time() - c0) * 1000)
            c0 = time.thread_time()
            idx.rank(q, qvec=v)
            rest.append((time.thread_time() - c0) * 1000)
        row: dict[str, Any] = {
            "sentences": n_sent, "dense_index": idx.dense.kind, "build_s": round(build_s, 1), "queries": len(lat),
            "search_p50_ms": _pct(lat, 50), "search_p99_ms": _pct(lat, 99),
            # CPU time of the searching thread: what a search costs when it is not waiting for a core (the machine
            # is shared, so wall-clock latency includes scheduling delay; see load_avg)
            "search_cpu_p50_ms": _pct(cpu, 50), "search_cpu_p99_ms": _pct(cpu, 99),
            # the two parts of it: USE query encoding alone, and everything else (index search, BM25, fusion) given
            # the query vector
            "encode_cpu_p50_ms": _pct(enc, 50), "without_encode_cpu_p50_ms": _pct(rest, 50),
            "load_avg": os.getloadavg()}
        if idx.dense.kind != "exact":
            # same corpus, same vectors, exact dense candidates: does the approximate index change the answer?
            idx.dense = DenseIndex.build(pool[:n_sent], kind="exact")
            same = [int(c.entries[o[0]]) == t if o.size else t == -1
                    for (c, _, o, _), t in ((idx.rank(q), t) for q, t in zip(queries, tops, strict=True))]
            row["top1_same_as_exact"] = round(float(np.mean(same)), 4)
        res[f"{n_entries}_entries"] = row
        log(f"latency {n_entries}: {row}")
        del idx
    return res
