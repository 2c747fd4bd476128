"""Lexicon features of the polarity model, the dense block of the linear model, and the authored service reviews."""

from __future__ import annotations

import csv
import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from router.sentiment import data as sdata
from router.sentiment.features import as_arrays, feature_counts, normalize, words
from router.sentiment.linear import HashedLinear, MeanLinear, count_matrix, fit_hashed_linear
from router.sentiment.polarity_lexicon import (
    N_FEATURES,
    PolarityLexicon,
    _ListUnpickler,
    load_package_lexicons,
)

REPO = Path(__file__).resolve().parents[3]
SERVICE_VAL = REPO / "router" / "eval" / "sentiment_service_reviews.tsv"

TINY = PolarityLexicon(
    entries={"好吃": (1, 0.6), "满意": (1, 0.8), "慢": (-1, -0.4), "失望": (-1, -0.9), "凉": (0, -0.2)},
    negators=frozenset({"不", "没有"}),
)


def test_features_count_and_weigh_lexicon_words() -> None:
    f = TINY.features(["很", "好吃", ",", "很", "满意"])  # tokens of a normalised text: "，" is ","
    assert f.shape == (N_FEATURES,)
    assert f[0] == pytest.approx(2 / np.sqrt(5))  # two HowNet positives over sqrt(5 tokens)
    assert f[1] == 0.0 and f[3] == 0.0
    assert f[2] == pytest.approx((0.6 + 0.8) / np.sqrt(5))
    # last clause: "很 满意"
    assert f[4] == pytest.approx(1 / np.sqrt(2)) and f[6] == pytest.approx(0.8 / np.sqrt(2))


def test_negation_flips_the_sign() -> None:
    plain = TINY.features(["好吃"])
    negated = TINY.features(["不", "好吃"])
    assert plain[0] > 0 and plain[1] == 0
    assert negated[0] == 0 and negated[1] > 0 and negated[3] > 0
    # a negator three tokens back is out of the window
    far = TINY.features(["不", "是", "说", "好吃"])
    assert far[0] > 0


def test_last_clause_carries_the_verdict() -> None:
    toks = ["好吃", "就是", "送", "得", "太", "慢", "!", "!"]
    f = TINY.features(toks)
    assert f[0] > 0 and f[1] > 0  # the whole message has both
    assert f[4] == 0 and f[5] > 0  # the last clause (after 就是, trailing !! ignored) is negative


def test_no_tokens_or_no_hits_give_zeros() -> None:
    assert not TINY.features([]).any()
    assert not TINY.features(["请问", "发票", "怎么", "开"]).any()
    assert TINY.matrix([]).shape == (0, N_FEATURES)


def test_state_round_trip() -> None:
    back = PolarityLexicon.from_state(TINY.to_state())
    assert back.negators == TINY.negators
    assert set(back.entries) == set(TINY.entries)
    for word, (sign, weight) in TINY.entries.items():
        assert back.entries[word][0] == sign and back.entries[word][1] == pytest.approx(weight)
    broken = TINY.to_state()
    broken["signs"] = broken["signs"][:-1]
    with pytest.raises(ValueError):
        PolarityLexicon.from_state(broken)


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("true",))


def test_word_list_unpickler_refuses_code() -> None:
    ok = pickle.dumps({"好", "差"}, protocol=2)  # protocol 2 names builtins.set
    assert _ListUnpickler(io.BytesIO(ok)).load() == {"好", "差"}
    with pytest.raises(pickle.UnpicklingError):
        _ListUnpickler(io.BytesIO(pickle.dumps(_Evil()))).load()


def test_package_lexicons_load() -> None:
    lex = load_package_lexicons()
    assert len(lex.entries) > 100_000
    assert lex.entries["满意"][0] == 1 and lex.entries["失望"][0] == -1
    assert lex.entries["失望"][1] < 0 < lex.entries["满意"][1]
    assert all(-1.0 <= w <= 1.0 for _, w in lex.entries.values())
    assert {"不", "没有"} <= lex.negators
    good = lex.features(words(normalize("味道很好，很满意")))
    bad = lex.features(words(normalize("味道不好，很失望")))
    assert good[0] > good[1] and bad[1] > bad[0]


def _dense_model() -> HashedLinear:
    rng = np.random.default_rng(0)
    idf = rng.random(1 << 21).astype(np.float32)
    w = rng.normal(size=1 << 21).astype(np.float32)
    return HashedLinear(idf=idf, weights=w, bias=0.1, dense_weights=np.arange(N_FEATURES, dtype=np.float32))


def test_dense_block_in_single_and_batch_paths() -> None:
    model = _dense_model()
    texts = [normalize(t) for t in ["送得很快，好吃", "太慢了，凉了", ""]]
    dense = TINY.matrix([words(t) for t in texts])
    dense[0, 0] = 1.5  # make the dense term visible
    single = [model.decision(*as_arrays(feature_counts(t)), dense[i]) for i, t in enumerate(texts)]
    np.testing.assert_allclose(model.decisions(count_matrix(texts), dense), single, rtol=1e-5, atol=1e-6)
    assert single[2] == pytest.approx(0.1 + float(dense[2] @ model.dense_weights))
    with pytest.raises(ValueError):
        model.decision(*as_arrays(feature_counts(texts[0])))
    with pytest.raises(ValueError):
        model.decisions(count_matrix(texts))
    back = HashedLinear.from_state(model.to_state())
    assert back.dense_weights is not None
    np.testing.assert_allclose(back.dense_weights, model.dense_weights)


def test_fit_learns_weights_of_dense_features() -> None:
    # the n-grams carry no signal (every text the same), one dense column carries all of it
    texts = [normalize("一样的评论")] * 40
    y = np.asarray([1, 0] * 20)
    dense = np.zeros((40, N_FEATURES))
    dense[:, 2] = y * 2.0
    model = fit_hashed_linear(count_matrix(texts), y, c=10.0, min_df=1, nb_weighting=False, dense=dense)
    assert model.dense_weights is not None and model.dense_weights[2] > 1.0
    assert np.mean((model.decisions(count_matrix(texts), dense) > 0) == (y == 1)) == 1.0
    # the stored weights take raw features whatever the scale used while fitting
    scaled = fit_hashed_linear(
        count_matrix(texts), y, c=10.0, min_df=1, nb_weighting=False, dense=dense, dense_scale=3.0
    )
    assert np.mean((scaled.decisions(count_matrix(texts), dense) > 0) == (y == 1)) == 1.0


def test_authored_service_reviews_are_clean() -> None:
    rows = sdata.service_reviews()
    assert len(rows) >= 700
    labels = [e.label for e in rows]
    assert 0.4 < np.mean(labels) < 0.6
    texts = [e.text for e in rows]
    assert len(set(texts)) == len(texts)

    def bigrams(s: str) -> set[str]:
        return {s[i : i + 2] for i in range(len(s) - 1)} or {s}

    # the validation set of model selection stays independent of the authored training rows
    with SERVICE_VAL.open(encoding="utf-8") as fh:
        val = [bigrams(r["text"]) for r in csv.DictReader(fh, delimiter="\t")]
    assert len(val) == 400
    for t in texts:
        b = bigrams(t)
        assert max(len(b & v) / len(b | v) for v in val) < 0.5, t


def test_polarity_tsv_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("text\tlabel\n好吃\tgood\n", encoding="utf-8")
    with pytest.raises(ValueError, match="row 2"):
        sdata.read_polarity_tsv(bad)
    bad.write_text("review\tlabel\n", encoding="utf-8")
    with pytest.raises(ValueError, match="header"):
        sdata.read_polarity_tsv(bad)


def test_mean_linear_averages_members_and_reads_old_states() -> None:
    dense_member = _dense_model()
    plain = HashedLinear(idf=dense_member.idf, weights=-dense_member.weights, bias=-0.3)
    mean = MeanLinear((plain, dense_member))
    assert mean.needs_dense and not plain.needs_dense
    texts = [normalize(t) for t in ["送得很快，好吃", "太慢了"]]
    dense = TINY.matrix([words(t) for t in texts])
    expected = (plain.decisions(count_matrix(texts)) + dense_member.decisions(count_matrix(texts), dense)) / 2
    np.testing.assert_allclose(mean.decisions(count_matrix(texts), dense), expected, rtol=1e-6)
    single = [mean.decision(*as_arrays(feature_counts(t)), dense[i]) for i, t in enumerate(texts)]
    np.testing.assert_allclose(single, expected, rtol=1e-5, atol=1e-6)
    back = MeanLinear.from_state(mean.to_state())
    assert len(back.members) == 2 and back.members[1].dense_weights is not None
    # an artifact of the earlier format holds one model: it reads as a mean of one
    old = MeanLinear.from_state(plain.to_state())
    assert len(old.members) == 1 and not old.needs_dense
    with pytest.raises(ValueError):
        MeanLinear(())


def test_analyzer_needs_the_lexicon_of_a_lexicon_model() -> None:
    from router.sentiment import SentimentAnalyzer

    model = MeanLinear((_dense_model(),))
    anger = HashedLinear(idf=model.members[0].idf, weights=model.members[0].weights, bias=0.0)
    with pytest.raises(ValueError, match="lexicon"):
        SentimentAnalyzer(model, anger)
    analyzer = SentimentAnalyzer(model, anger, polarity_lexicon=TINY)
    assert -1.0 <= analyzer.polarity("好吃，就是太慢") <= 1.0
