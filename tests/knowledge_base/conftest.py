"""Fixtures for the knowledge-base tests: the real USE model loaded once, small temporary corpora, the real corpus."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge_base.corpus import FaqEntry, load_corpus, save_file
from knowledge_base.embedder import Embedder, make_embedder
from knowledge_base.service import KnowledgeBase
from knowledge_base.settings import PACKAGE_DIR, ROOT, KbSettings

REAL_CORPUS = PACKAGE_DIR / "data"
DEV_SET = PACKAGE_DIR / "eval" / "dev.tsv"
SMALL_IDS = ["refund_time", "invoice_apply", "logistics_track", "password_reset", "coupon_use", "size_guide",
             "order_cancel", "warranty"]


@pytest.fixture(scope="session")
def use_embedder() -> Embedder:
    return make_embedder("use", threads=1, query_threads=1)


@pytest.fixture(scope="session")
def shared_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One artifacts home for every small temporary KB, so their embeddings cache is shared."""
    return tmp_path_factory.mktemp("kb_home")


def small_entries() -> list[FaqEntry]:
    by_id = {e.id: e for e in load_corpus(REAL_CORPUS)}
    return [by_id[i] for i in SMALL_IDS]


@pytest.fixture()
def small_corpus(tmp_path: Path) -> Path:
    """A temporary corpus with 8 real entries in two files."""
    d = tmp_path / "corpus"
    entries = small_entries()
    save_file(d / "a.yml", entries[:4])
    save_file(d / "b.yml", entries[4:])
    return d


def small_settings(home: Path, corpus: Path, **kw: object) -> KbSettings:
    """The YAML directory itself is the corpus unless ``store="sql"`` and a ``database_url`` are given."""
    # the repository's negatives only (the default build): enough for these small corpora and fast
    kw.setdefault("store", "yaml")
    return KbSettings(home=home, corpus_dir=corpus, negatives_file=None, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def real_kb(use_embedder: Embedder) -> Iterator[KnowledgeBase]:
    """The real corpus, built (or loaded) under var/kb like `kefu kb build` does."""
    settings = KbSettings(home=ROOT / "var" / "kb", corpus_dir=REAL_CORPUS, store="yaml")
    kb = KnowledgeBase(settings, embedder=use_embedder, watch=False)
    yield kb
    kb.close()


@pytest.fixture()
def copy_real_corpus(tmp_path: Path) -> Path:
    d = tmp_path / "real_corpus"
    shutil.copytree(REAL_CORPUS, d)
    return d
