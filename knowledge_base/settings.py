"""Settings of the FAQ knowledge base (env prefix ``KEFU_KB_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
ROOT = PACKAGE_DIR.parent


class KbSettings(BaseSettings):
    """Where the corpus and the built artifacts live, which embedder to use, and the decision thresholds."""

    model_config = SettingsConfigDict(env_prefix="KEFU_KB_", extra="ignore", populate_by_name=True)

    home: Path = Field(default=ROOT / "var" / "kb", description="built artifacts: index, embeddings cache, calibrator")
    # "sql": the live corpus is in the database at ``database_url`` (seeded from ``corpus_dir`` when empty), shared
    # by every process that answers FAQs; "yaml": read ``corpus_dir`` directly (offline evaluation, the library alone)
    store: Literal["sql", "yaml"] = "sql"
    # the router's database unless KEFU_KB_DATABASE_URL says otherwise (`make run`: one SQLite file under var/);
    # the action server must be given the same URL (PostgreSQL when scaled out)
    database_url: str = Field(default=f"sqlite:///{ROOT / 'var' / 'kefu.db'}", min_length=1,
                              validation_alias=AliasChoices("KEFU_KB_DATABASE_URL", "KEFU_ROUTER_DATABASE_URL"))
    # the YAML corpus in the repository: the seed of an empty database and the import/export format. Never written
    # at run time
    corpus_dir: Path = PACKAGE_DIR / "data"
    # corpus changes are announced on this Redis channel when set (KEFU_KB_REDIS_URL, else the router's
    # KEFU_ROUTER_REDIS_URL); without Redis every process polls the corpus revision every ``reload_poll_s``
    redis_url: str | None = Field(default=None,
                                  validation_alias=AliasChoices("KEFU_KB_REDIS_URL", "KEFU_ROUTER_REDIS_URL"))
    redis_channel: str = "kefu:kb:corpus"
    # with Redis, the revision is still polled this often, in case a notice was lost while Redis was away
    redis_backstop_poll_s: float = Field(default=30.0, gt=0)
    # "use" (multilingual USE, offline default) or "st:<model path or name>" (sentence-transformers)
    embedder: str = "use"
    # USE threads for single queries and for batch encoding. One thread for both: on this shared 2-core machine
    # (load average ~17) a 256-sentence batch took 0.49 s with 1 thread and 7.3 s with 2 (threads spin on busy cores)
    use_threads: int = 1
    build_threads: int = 1
    # above this many sentence vectors the dense index switches from exact inner product to HNSW. Measured on real USE
    # vectors, one thread (bench/kb_bench.py --sections latency, bench/RESULTS.md): a flat scan costs 0.17 ms at 5k
    # vectors, 0.56 ms at 10k, 1.44 ms at 20k (the matrix no longer fits the cache) and 8.7 ms at 100k; HNSW costs
    # 0.11-0.23 ms from 5k to 100k with recall@50 0.95-0.98 against the flat scan
    exact_max_vectors: int = 5_000
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    # recall@50 against the exact scan on real vectors: 0.95-0.99 from 2k to 50k vectors with 128 (64: 0.90-0.95)
    hnsw_ef_search: int = 128
    dense_candidates: int = 50
    # the softmax entry classifier (a fusion signal) is fitted at build time up to this many entries
    classifier_max_entries: int = 2000
    sparse_candidates: int = 50
    # calibrated confidence (P(top hit is right)) thresholds. The calibrator is trained without the dev set; these
    # two cut-offs are the only values chosen by looking at knowledge_base/eval/dev.tsv (see bench/RESULTS.md)
    answer_threshold: float = 0.5
    clarify_threshold: float = 0.15
    reload_poll_s: float = Field(default=1.0, gt=0)
    # after a new sentence set is served (provisional index, previous calibration), the calibrators are retrained in
    # a background thread this many seconds later, at a lower CPU priority: the other processes' reloads and the
    # questions staff ask to check the edit go first, and a burst of edits trains once
    recalibrate_delay_s: float = Field(default=3.0, ge=0)
    query_cache_size: int = 4096
    # an optional public set of extra negatives for the calibrator, added to the repository's own
    # (knowledge_base/calibration/negatives.txt; never an evaluated split; see knowledge_base/calibrate.py), e.g.
    # LCQMC dev.txt from the public data sets. Unset by default, so every clone builds the same index from the
    # repository alone: with and without LCQMC dev the dev and holdout top-1 and off-topic figures are the same
    # (bench/RESULTS.md, "Bare clone vs full build: FAQ")
    negatives_file: Path | None = None


@lru_cache
def get_kb_settings() -> KbSettings:
    return KbSettings()
