from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from router.sentiment import (
    ConversationSignals,
    ModelFormatError,
    ModelNotBuilt,
    SentimentAnalyzer,
    SentimentResult,
)
from router.sentiment.evaluate import read_eval_tsv
from router.sentiment.features import as_arrays, feature_counts, normalize, words
from router.sentiment.linear import count_matrix
from router.sentiment.rules import load_lexicon

pytestmark = pytest.mark.slow
DEV = Path(__file__).resolve().parents[3] / "router" / "eval" / "sentiment_dev.tsv"


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("你们这是骗子吧！！！再不退钱我就投诉到12315", "angry"),
        ("垃圾客服，我要去消协投诉你们", "angry"),
        ("快递怎么还没到，请问能帮我查一下吗", "neutral"),
        ("请问退款多久到账", "neutral"),
        ("质量非常好，物流也快，很满意，会回购的", "positive"),
        ("衣服质量一般，颜色和图片差别很大，有点失望", "negative"),
    ],
)
def test_clear_cases(analyzer: SentimentAnalyzer, text: str, label: str) -> None:
    r = analyzer.score(text)
    assert r.label == label, r
    assert 0.5 <= r.score <= 1.0


def test_result_shape(analyzer: SentimentAnalyzer) -> None:
    r = analyzer.score("你们太过分了！！！")
    assert isinstance(r, SentimentResult)
    d = r.as_dict()
    assert set(d) == {"label", "score", "anger", "polarity"}
    assert 0.0 <= d["score"] <= 1.0 and 0.0 <= d["anger"] <= 1.0 and -1.0 <= d["polarity"] <= 1.0
    assert any(reason.startswith("lexicon:") for reason in r.reasons)


def test_lexicon_terms_raise_anger(analyzer: SentimentAnalyzer) -> None:
    lexicon = load_lexicon()
    assert {"投诉", "12315", "消协", "骗子", "差评", "退钱"} <= {e.term for e in lexicon}
    calm = analyzer.score("这个订单什么时候发货")
    threat = analyzer.score("这个订单什么时候发货，不发货我就打12315")
    assert threat.anger > calm.anger + 0.3
    assert "lexicon:12315" in threat.reasons


def test_polite_request_lowers_anger(analyzer: SentimentAnalyzer) -> None:
    blunt = analyzer.score("东西坏了，退款")
    polite = analyzer.score("请问东西坏了可以退款吗，谢谢")
    assert polite.anger < blunt.anger
    assert polite.label == "neutral"


def test_conversation_signals(analyzer: SentimentAnalyzer) -> None:
    # (with "到底", a demand word of the lexicon, the same question is angry on its own, as every "到底" message of
    # the dev and check sets is labelled)
    text = "我的快递到哪了"
    alone = analyzer.score(text)
    repeated = analyzer.score(text, signals=ConversationSignals(previous_texts=["我的快递到哪了？"]))
    stuck = analyzer.score(
        text, signals=ConversationSignals(previous_texts=["快递到哪了", "我的快递到哪了"], consecutive_fallbacks=3)
    )
    assert alone.label != "angry"
    assert analyzer.score("我的快递到底到哪了").anger > alone.anger
    assert "signal:repeated" in repeated.reasons and repeated.anger > alone.anger
    assert stuck.label == "angry", stuck
    # an unrelated earlier message is not a repetition
    other = analyzer.score(text, signals=ConversationSignals(previous_texts=["发票怎么开"]))
    assert "signal:repeated" not in other.reasons


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "😀😀😀",
        "🤬🤬",
        "？？？",
        "\x00\x07订单\u200b\x1b[31m号\ufeff",
        "好" * 100_000,
        "a" * 50_000 + "退钱" * 10,
    ],
)
def test_odd_input_scores_fine(analyzer: SentimentAnalyzer, text: str) -> None:
    start = time.perf_counter()
    r = analyzer.score(text)
    assert r.label in {"angry", "negative", "neutral", "positive"}
    assert 0.0 <= r.score <= 1.0 and 0.0 <= r.anger <= 1.0
    assert time.perf_counter() - start < 0.5


def test_empty_is_neutral(analyzer: SentimentAnalyzer) -> None:
    assert analyzer.score("").label == "neutral"
    assert analyzer.score(" \n\t").reasons == ["empty"]


def test_latency_budget(analyzer: SentimentAnalyzer) -> None:
    texts = [r.text for r in read_eval_tsv(DEV)]
    for t in texts[:20]:
        analyzer.score(t)
    timings = []
    for _ in range(3):
        for t in texts:
            start = time.perf_counter()
            analyzer.score(t)
            timings.append(time.perf_counter() - start)
    p50 = float(np.percentile(timings, 50)) * 1000
    # the budget is 2 ms per message on one core; the median leaves room for a busy shared CI machine
    assert p50 < 2.0, f"p50 {p50:.2f} ms"
    assert float(np.mean(timings)) * 1000 < 2.0


def test_scoring_path_matches_training_matrix(analyzer: SentimentAnalyzer) -> None:
    """The per-message scorer computes exactly what the training matrix fed to the solver, for every member of the
    polarity model, and their mean is the polarity."""
    raw = ["物流很快，包装完好", "太差了，再也不买", "请问发票怎么开", "12315", "骑手态度很差，饭都凉了"]
    texts = [normalize(t) for t in raw]
    tf = count_matrix(texts)
    lexicon = analyzer.polarity_lexicon
    dense = np.zeros((len(texts), 0)) if lexicon is None else lexicon.matrix([words(t) for t in texts])
    member_decisions = []
    for model in analyzer.polarity_model.members:
        x = tf.multiply(model.idf[np.newaxis, :]).tocsr()
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        expected = (x @ model.weights.astype(np.float64)) / norms + model.bias
        if model.dense_weights is not None:
            expected = expected + dense @ model.dense_weights.astype(np.float64)
        rows = [dense[i] if model.dense_weights is not None else None for i in range(len(texts))]
        got = [model.decision(*as_arrays(feature_counts(t)), rows[i]) for i, t in enumerate(texts)]
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
        member_decisions.append(got)
    mean = np.mean(member_decisions, axis=0)
    # the batch paths used by model selection and evaluation give the same numbers
    np.testing.assert_allclose(analyzer.polarity_decisions(raw), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose([2 / (1 + np.exp(-m)) - 1 for m in mean], [analyzer.polarity(t) for t in raw], atol=1e-6)


def test_missing_model_is_a_domain_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotBuilt) as exc:
        SentimentAnalyzer.load(tmp_path / "nope.joblib")
    assert "kefu sentiment train" in str(exc.value)
    bad = tmp_path / "bad.joblib"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelFormatError):
        SentimentAnalyzer.load(bad)


def test_save_load_roundtrip(analyzer: SentimentAnalyzer, model_path: Path, tmp_path: Path) -> None:
    path = analyzer.save(tmp_path / "copy.npz")
    again = SentimentAnalyzer.load(path)
    for text in ["你们这是骗子吧", "请问退款多久到账", "很好用"]:
        assert again.score(text) == analyzer.score(text)
    # the committed file is exactly what its model writes: no timestamp or ordering noise in the bytes
    assert path.read_bytes() == model_path.read_bytes()


def test_artifact_is_compact_and_pickle_free(model_path: Path) -> None:
    assert model_path.stat().st_size <= 20 * 1024 * 1024
    with np.load(model_path, allow_pickle=False) as npz:
        names = set(npz.files)
        assert all(npz[name].dtype != object for name in names)
    assert {"meta", "anger.ids", "polarity0.weights", "polarity1.dense"} <= names
