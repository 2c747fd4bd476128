"""Converters of the external NLU benchmark (bench/nlu_bench.py) on real lines of the public data sets."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from tests.datasets import datasets_dir, needs_datasets

REPO = Path(__file__).resolve().parents[2]
DATASETS = datasets_dir()
SMP = DATASETS / "SMP2020-ECDT-NLU"
CAIS = DATASETS / "CAIS"

pytestmark = needs_datasets("SMP2020-ECDT-NLU", "CAIS")


@pytest.fixture(scope="module")
def nb() -> ModuleType:
    spec = importlib.util.spec_from_file_location("nlu_bench", REPO / "bench" / "nlu_bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["nlu_bench"] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def _smp_item(split: str, text: str) -> dict:
    items = json.loads((SMP / f"{split}.json").read_text(encoding="utf-8"))
    return next(item for item in items if item["text"] == text)


def test_smp2020_inclusive_end_becomes_exclusive(nb: ModuleType) -> None:
    example = nb.smp2020_example(_smp_item("test", "水果沙拉怎么做？"))
    assert example.intent == "QUERY"
    assert example.entities == [(0, 4, "dishName")]
    assert example.text[0:4] == "水果沙拉"


def test_smp2020_duplicate_and_overlapping_spans_are_dropped(nb: ModuleType) -> None:
    # Published with srcUnit 克 twice and inside destUnit 千克; Rasa cannot hold overlapping entities.
    example = nb.smp2020_example(_smp_item("train", "多少克是1千克"))
    assert example.intent == "CONVERSION_HOW"
    spans = [(example.text[s:e], label) for s, e, label in example.entities]
    assert spans == [("1", "srcNumber"), ("千克", "destUnit")]


def test_smp2020_splits_and_labels(nb: ModuleType) -> None:
    splits = nb.load_smp2020(SMP)
    assert {k: len(v) for k, v in splits.items()} == {"train": 4011, "dev": 493, "test": 520}
    assert len({e.intent for e in splits["test"]}) == 59


def test_cais_first_test_utterance(nb: ModuleType) -> None:
    lines = (CAIS / "ch.test").read_text(encoding="utf-8").splitlines()[:12]
    rows = nb.parse_bioes_lines(lines)[0]
    assert rows[:4] == [("来", "O"), ("张", "B-singer_name"), ("信", "I-singer_name"), ("哲", "E-singer_name")]
    intent = (CAIS / "ch.test.intent").read_text(encoding="utf-8").splitlines()[0]
    example = nb.bioes_utterance(rows, intent)
    assert (example.text, example.intent, example.entities) == ("来张信哲的歌", "PlayMusic", [(1, 4, "singer_name")])


def test_cais_space_character_and_single_tags(nb: ModuleType) -> None:
    rows = nb.parse_bioes_lines(["A B-song_name", "  I-song_name", "B E-song_name", "的 O", "歌 S-song_type", ""])[0]
    example = nb.bioes_utterance(rows, "PlayMusic")
    assert example.text == "A B的歌"
    assert example.entities == [(0, 3, "song_name"), (4, 5, "song_type")]


def test_cais_splits_align_with_intents(nb: ModuleType) -> None:
    splits = nb.load_cais(CAIS)
    assert {k: len(v) for k, v in splits.items()} == {"train": 7995, "dev": 994, "test": 1012}
    assert all(e.text and e.text == e.text.strip() for e in splits["train"])
    assert all(e.text[s:e_].strip() for e in splits["test"] for s, e_, _ in e.entities)


def test_rasa_yaml_round_trip(nb: ModuleType) -> None:
    examples = [
        nb.smp2020_example(_smp_item("test", "水果沙拉怎么做？")),
        nb.Example("放[一]首歌", "PLAY", [(5, 6, "x")]),
    ]
    data = yaml.safe_load(nb.to_rasa_yaml(examples))
    assert data["version"] == "3.1"
    by_intent = {block["intent"]: block["examples"] for block in data["nlu"]}
    assert by_intent["QUERY"].strip() == "- [水果沙拉](dishName)怎么做？"
    # literal ASCII brackets would be read by Rasa as annotation syntax
    assert by_intent["PLAY"].strip() == "- 放［一］首[歌](x)"
    assert not re.search(r"\]\((?!dishName|x\))", nb.to_rasa_yaml(examples))


def test_intent_metrics_match_sklearn(nb: ModuleType) -> None:
    from sklearn.metrics import accuracy_score, f1_score

    gold = ["a", "a", "b", "b", "c", "c", "c"]
    pred = ["a", "b", "b", "b", "c", "d", None]
    accuracy, macro_f1 = nb.intent_metrics(gold, pred)
    pred_str = [p or "<none>" for p in pred]
    assert accuracy == pytest.approx(accuracy_score(gold, pred_str))
    assert macro_f1 == pytest.approx(f1_score(gold, pred_str, labels=sorted(set(gold)), average="macro"))
