"""Training pipeline: the fixed split, the leak filter, determinism and missing data."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from router.sentiment import DatasetsNotFound, SentimentAnalyzer
from router.sentiment import data as sdata
from router.sentiment.features import _bucket
from router.sentiment.training import build_analyzer, train
from tests.datasets import datasets_dir, needs_datasets

POS = ["质量很好，很满意", "物流很快，包装完好", "好评，下次还来", "性价比高，推荐购买", "非常喜欢，颜色漂亮"]
NEG = ["质量太差了，退货", "物流太慢，包装破损", "差评，再也不买", "和描述不符，很失望", "用了两天就坏了"]


def _write_small_datasets(root: Path) -> Path:
    (root / "online_shopping_10_cats").mkdir(parents=True)
    with (root / sdata.ONLINE_SHOPPING).open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["cat", "label", "review"])
        for i in range(30):
            w.writerow(["衣服", 1, f"{POS[i % 5]}{i}"])
            w.writerow(["衣服", 0, f"{NEG[i % 5]}{i}"])
    (root / "CLUEmotion2020").mkdir()
    with (root / sdata.CLUEMOTION_VALID).open("w", encoding="utf-8") as fh:
        for i in range(40):
            label = "anger" if i % 4 == 0 else "happiness"
            text = f"气死我了{i}" if label == "anger" else f"今天真开心{i}"
            fh.write(json.dumps({"id": i, "content": text, "label": label}, ensure_ascii=False) + "\n")
    (root / "BQ_corpus").mkdir()
    with (root / sdata.BQ_DEV).open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["sentence1", "sentence2", "label"])
        for i in range(20):
            w.writerow([f"为什么还款失败{i}", f"借款怎么取消{i}", i % 2])
    # the real-traffic proxy (AFQMC dev + BQ test) is never trained on, even where a sentence repeats across splits
    with (root / sdata.BQ_TEST).open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["sentence1", "sentence2", "label"])
        w.writerow(["为什么还款失败0", "花呗怎么开通", 0])
    (root / "AFQMC").mkdir()
    (root / sdata.AFQMC_TRAIN).write_text(
        "".join(f"花呗能不能提额{i}\t借呗怎么还款{i}\t0\n" for i in range(10)), encoding="utf-8"
    )
    (root / sdata.AFQMC_DEV).write_text("借呗怎么还款0\t余额宝收益\t0\n", encoding="utf-8")
    return root


def test_split_is_md5_prefix() -> None:
    for text in ["好", "差", "物流很快", "质量一般"]:
        expected = hashlib.md5(text.encode("utf-8")).hexdigest()[0] in "012"
        assert sdata.is_test_review(text) is expected


def test_default_datasets_dir_is_beside_repo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(sdata.ENV_DATASETS, raising=False)
    assert sdata.default_datasets_dir() == sdata.REPO_ROOT.parent / "shared" / "datasets"
    monkeypatch.setenv(sdata.ENV_DATASETS, str(tmp_path))
    assert sdata.default_datasets_dir() == tmp_path


def test_service_questions_leave_out_the_proxy(tmp_path: Path) -> None:
    datasets = _write_small_datasets(tmp_path / "ds")
    proxy = set(sdata.real_traffic_proxy(datasets))
    assert {"为什么还款失败0", "借呗怎么还款0", "余额宝收益", "花呗怎么开通"} <= proxy
    questions = {e.text for e in sdata.service_questions(datasets, 1000, seed=1)}
    assert len(questions) == 20 + 20 + 20 - 2  # BQ dev and AFQMC train sentences, without the two proxy ones
    assert not questions & proxy


@needs_datasets("online_shopping_10_cats")
@pytest.mark.slow
@needs_datasets(str(sdata.ONLINE_SHOPPING))
def test_no_held_out_review_in_training() -> None:
    datasets = datasets_dir()
    _, test = sdata.online_shopping(datasets)
    held_out = {e.text.strip() for e in test}
    training = sdata.polarity_training_set(datasets)
    assert not held_out & {e.text.strip() for e in training}
    assert len(training) > 55_000


@pytest.mark.slow
def test_same_seed_same_model(tmp_path: Path) -> None:
    datasets = _write_small_datasets(tmp_path / "ds")
    a = build_analyzer(datasets, seed=7)
    b = build_analyzer(datasets, seed=7)
    assert len(a.polarity_model.members) == len(b.polarity_model.members) == 2
    for ma, mb in zip(a.polarity_model.members, b.polarity_model.members, strict=True):
        np.testing.assert_array_equal(ma.weights, mb.weights)
        if ma.dense_weights is not None or mb.dense_weights is not None:
            np.testing.assert_array_equal(ma.dense_weights, mb.dense_weights)
    np.testing.assert_array_equal(a.anger_model.weights, b.anger_model.weights)
    probes = ["质量很好", "太差了", "气死我了", "请问退款多久到账"]
    assert [a.score(t) for t in probes] == [b.score(t) for t in probes]
    out = train(tmp_path / "m.joblib", datasets, seed=7).path
    assert [SentimentAnalyzer.load(out).score(t) for t in probes] == [a.score(t) for t in probes]


@pytest.mark.slow
def test_polarity_members(tmp_path: Path) -> None:
    """The polarity model is the mean of a product-review member and a lexicon + service-review member."""
    datasets = _write_small_datasets(tmp_path / "ds")
    analyzer = build_analyzer(datasets, seed=7)
    plain, lexical = analyzer.polarity_model.members
    assert plain.dense_weights is None and lexical.dense_weights is not None
    assert analyzer.polarity_lexicon is not None
    assert analyzer.meta["service_reviews"] == len(sdata.service_reviews())
    # the service reviews reach only the second member: a word found only there gets a weight only there
    only_service = "骑手"
    assert not any(only_service in e.text for e in sdata.polarity_training_set(datasets))
    assert any(only_service in e.text for e in sdata.service_reviews())
    ids = np.asarray([_bucket("c" + only_service), _bucket("w" + only_service)])
    assert not plain.weights[ids].any() and lexical.weights[ids].all()
    assert analyzer.polarity("骑手态度很差，饭都凉了") < 0 < analyzer.polarity("骑手很准时，饭菜也很好吃")


def test_missing_datasets_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(DatasetsNotFound, match="KEFU_DATASETS"):
        train(tmp_path / "m.joblib", tmp_path / "nowhere")
    assert not (tmp_path / "m.joblib").exists()
