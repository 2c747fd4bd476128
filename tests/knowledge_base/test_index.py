from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knowledge_base.bm25 import Bm25Index, tokenize
from knowledge_base.index import DenseIndex, IndexNotBuilt


def unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_exact_index_matches_numpy_oracle(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x, q = unit(rng, 3000, 64), unit(rng, 50, 64)
    idx = DenseIndex.build(x, kind="auto", exact_max=5000)
    assert idx.kind == "exact"
    scores, ids = idx.search(q, 10)
    oracle = np.argsort(-(q @ x.T), axis=1)[:, :10]
    assert np.array_equal(ids, oracle)
    np.testing.assert_allclose(scores, np.take_along_axis(q @ x.T, oracle, axis=1), rtol=1e-5, atol=1e-5)
    idx.save(tmp_path / "i.faiss")
    again = DenseIndex.load(tmp_path / "i.faiss")
    assert again.kind == "exact" and np.array_equal(again.search(q, 10)[1], ids)


def test_hnsw_chosen_above_threshold_with_high_recall(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x, q = unit(rng, 6000, 64), unit(rng, 100, 64)
    idx = DenseIndex.build(x, kind="auto", exact_max=5000, ef_search=128)
    assert idx.kind == "hnsw"
    _, ids = idx.search(q, 10)
    oracle = np.argsort(-(q @ x.T), axis=1)[:, :10]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, oracle, strict=True)])
    assert recall >= 0.95
    idx.save(tmp_path / "h.faiss")
    again = DenseIndex.load(tmp_path / "h.faiss")
    assert again.kind == "hnsw"
    assert np.array_equal(again.search(q, 10)[1], ids)


def test_missing_index_is_a_domain_error(tmp_path: Path) -> None:
    with pytest.raises(IndexNotBuilt) as ei:
        DenseIndex.load(tmp_path / "nope.faiss")
    assert ei.value.path == tmp_path / "nope.faiss"


def test_bm25_tokens_and_ranking(tmp_path: Path) -> None:
    assert "发票" in tokenize("怎么开发票？")  # search-mode sub-words
    assert "？" not in tokenize("退款多久到账？") and "的" not in tokenize("我的退款")
    docs = ["退款多久能到账", "怎么开发票", "发票抬头写错了怎么改", "快递到哪了"]
    bm = Bm25Index.build(docs)
    scores, ids = bm.search("发票抬头错了", 2)
    assert ids[0] == 2 and scores[0] > scores[1] >= 0
    assert bm.scores("完全无关的内容 zzz").max() == 0.0
    bm.save(tmp_path / "bm")
    again = Bm25Index.load(tmp_path / "bm")
    np.testing.assert_allclose(again.scores("发票抬头错了"), bm.scores("发票抬头错了"))
