"""The calibrator's negatives: the repository's own by default, a public set only when asked for (issue 15)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from knowledge_base.calibrate import NEGATIVES_FILE, NegativesNotFound, load_negatives
from knowledge_base.cli import app
from knowledge_base.corpus import load_corpus
from knowledge_base.embedder import Embedder
from knowledge_base.service import KnowledgeBase, build_directory
from knowledge_base.settings import ROOT, KbSettings, get_kb_settings

from .conftest import small_settings

PUBLIC_PAIRS = "今天天气怎么样\t明天会下雨吗\t0\n怎么学好数学\t数学怎么学\t1\n网购的东西坏了\t订单退货\t0\n"


def test_default_settings_read_nothing_outside_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KEFU_KB_NEGATIVES_FILE", "KEFU_KB_HOME", "KEFU_KB_CORPUS_DIR"):
        monkeypatch.delenv(name, raising=False)
    s = KbSettings()
    assert s.negatives_file is None
    for name, value in s.model_dump().items():
        if isinstance(value, Path):
            assert value.resolve().is_relative_to(ROOT), (name, value)


def test_default_negatives_are_the_repository_file_only() -> None:
    own = load_negatives(None)
    assert own and not any(n.startswith("#") for n in own)
    assert set(own) <= {ln.strip() for ln in NEGATIVES_FILE.read_text(encoding="utf-8").splitlines()}


def test_public_negatives_are_added_without_shop_sentences(tmp_path: Path) -> None:
    public = tmp_path / "pairs.txt"
    public.write_text(PUBLIC_PAIRS, encoding="utf-8")
    added = load_negatives(public)[len(load_negatives(None)):]
    # the pair with shop words (网购, 订单, 退货) is filtered out: such sentences may be questions the FAQ answers
    assert sorted(added) == sorted(["今天天气怎么样", "明天会下雨吗", "怎么学好数学", "数学怎么学"])


def test_a_missing_public_file_is_an_error_not_a_smaller_build(tmp_path: Path, small_corpus: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "LCQMC" / "dev.txt"
    with pytest.raises(NegativesNotFound, match="negatives file not found"):
        load_negatives(missing)
    monkeypatch.setenv("KEFU_KB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KEFU_KB_CORPUS_DIR", str(small_corpus))
    monkeypatch.setenv("KEFU_KB_NEGATIVES_FILE", str(missing))
    get_kb_settings.cache_clear()
    try:
        r = CliRunner().invoke(app, ["build"])
    finally:
        get_kb_settings.cache_clear()
    assert r.exit_code == 2 and "negatives file not found" in r.output


def test_other_negatives_make_another_build(small_corpus: Path, shared_home: Path, use_embedder: Embedder,
                                            tmp_path: Path) -> None:
    public = tmp_path / "pairs.txt"
    public.write_text(PUBLIC_PAIRS, encoding="utf-8")
    plain = small_settings(shared_home, small_corpus)
    with_public = plain.model_copy(update={"negatives_file": public})
    entries = load_corpus(small_corpus)
    assert build_directory(entries, use_embedder, plain) != build_directory(entries, use_embedder, with_public)
    kb = KnowledgeBase(plain, embedder=use_embedder, watch=False)
    assert kb.index.neg_emb.shape[0] == len(load_negatives(None))
    kb.close()
    # the build saved above must not be reused for the calibration with the public sentences
    kb = KnowledgeBase(with_public, embedder=use_embedder, watch=False)
    assert kb.index.neg_emb.shape[0] == len(load_negatives(None)) + 4
    assert "sample of" in kb.index.models["hybrid"].trained_on
    kb.close()
