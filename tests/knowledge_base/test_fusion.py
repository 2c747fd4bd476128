from __future__ import annotations

import numpy as np

from knowledge_base.fusion import Candidates, FusionModel, LinearModel, decide, decision_features, ranking_features


def test_decide_thresholds() -> None:
    assert decide(0.9, answer_threshold=0.5, clarify_threshold=0.25) == "answer"
    assert decide(0.5, answer_threshold=0.5, clarify_threshold=0.25) == "answer"
    assert decide(0.3, answer_threshold=0.5, clarify_threshold=0.25) == "clarify"
    assert decide(0.1, answer_threshold=0.5, clarify_threshold=0.25) == "decline"


def test_linear_model_learns_and_round_trips() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 3))
    y = (x[:, 0] - 0.5 * x[:, 2] > 0).astype(int)
    m = LinearModel.fit(x, y)
    p = m.proba(x)
    assert ((p > 0.5) == y).mean() > 0.95
    assert np.all((p >= 0) & (p <= 1))
    again = LinearModel.from_dict(m.to_dict())
    np.testing.assert_allclose(again.proba(x), p)


def cands(dense: list[float], ebm: list[float]) -> Candidates:
    n = len(dense)
    z = np.zeros(n, dtype=np.float32)
    return Candidates(entries=np.arange(n), dense=np.asarray(dense, dtype=np.float32), centroid=z, clf=z + 0.1,
                      bm25=np.asarray(ebm, dtype=np.float32), entry_bm25=np.asarray(ebm, dtype=np.float32),
                      coverage=z, query_chars=6, oov=0.0)


def test_features_per_mode_have_fixed_width() -> None:
    c = cands([0.9, 0.2, 0.1], [3.0, 0.0, 1.0])
    assert ranking_features(c, "dense").shape == (3, 1)
    assert ranking_features(c, "bm25").shape == (3, 5)
    assert ranking_features(c, "hybrid").shape == (3, 8)
    order = np.array([0, 2, 1])
    widths = {m: decision_features(c, c.dense, order, m).shape[0] for m in ("dense", "bm25", "hybrid")}
    assert widths == {"dense": 3, "bm25": 7, "hybrid": 13}


def test_fusion_model_prefers_agreeing_signals() -> None:
    # a ranker that weights dense and entry-BM25 positively must put the candidate strong on both first
    rank = LinearModel(coef=np.array([2.0, 0, 0, 1.0, 0, 0, 0, 0]), intercept=0.0, mean=np.zeros(8), scale=np.ones(8))
    cal = LinearModel(coef=np.ones(13) * 0.1, intercept=0.0, mean=np.zeros(13), scale=np.ones(13))
    fm = FusionModel(mode="hybrid", ranker=rank, calibrator=cal, trained_on="test")
    c = cands([0.8, 0.85, 0.2], [4.0, 0.0, 0.5])
    scores = fm.rank(c)
    order = np.argsort(-scores)
    assert order[0] == 0
    assert 0.0 <= fm.confidence(c, scores, order) <= 1.0
    assert FusionModel.from_dict(fm.to_dict()).rank(c).tolist() == scores.tolist()
