from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from knowledge_base.corpus import CorpusError, FaqEntry, delete_entry, load_corpus, load_file, upsert_entry

from .conftest import DEV_SET, REAL_CORPUS

GOOD = {"id": "refund_time", "category": "after_sales", "question": "退款多久能到账？",
        "paraphrases": ["退款啥时候到"], "answer": "您好，一般1-5个工作日到账。", "tags": ["退款"], "version": 1,
        "updated_at": "2026-11-24T00:00:00Z"}


def write(path: Path, entries: object) -> Path:
    path.write_text(yaml.safe_dump({"entries": entries}, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"answer": ""}, "answer"),
        ({"id": "Refund Time"}, "id"),
        ({"id": "off_topic"}, "id"),
        ({"paraphrases": ["ok", "  "]}, "paraphrases"),
        ({"version": 0}, "version"),
        ({"updated_at": "yesterday"}, "updated_at"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_schema_errors_name_file_entry_and_field(tmp_path: Path, patch: dict[str, object], field: str) -> None:
    path = write(tmp_path / "x.yml", [GOOD, {**GOOD, "id": "second", **patch}])
    with pytest.raises(CorpusError) as ei:
        load_file(path)
    err = ei.value
    assert err.file == str(path)
    assert err.entry in ("second", patch.get("id"))
    assert err.field == field
    assert str(path) in str(err)


def test_missing_field_and_bad_shapes(tmp_path: Path) -> None:
    raw = {k: v for k, v in GOOD.items() if k != "question"}
    with pytest.raises(CorpusError) as ei:
        load_file(write(tmp_path / "a.yml", [raw]))
    assert (ei.value.entry, ei.value.field) == ("refund_time", "question")
    (tmp_path / "b.yml").write_text("entries: {not: a list}", encoding="utf-8")
    with pytest.raises(CorpusError, match="entries"):
        load_file(tmp_path / "b.yml")
    (tmp_path / "c.yml").write_text("entries: [\n  - id: x\n bad", encoding="utf-8")
    with pytest.raises(CorpusError, match="invalid YAML"):
        load_file(tmp_path / "c.yml")
    with pytest.raises(CorpusError) as ei2:
        load_file(write(tmp_path / "d.yml", ["just a string"]))
    assert ei2.value.entry == "#0"


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    write(tmp_path / "a.yml", [GOOD])
    write(tmp_path / "b.yml", [GOOD])
    with pytest.raises(CorpusError) as ei:
        load_corpus(tmp_path)
    assert ei.value.entry == "refund_time" and ei.value.field == "id"
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nope")


def test_every_topic_present_with_enough_paraphrases() -> None:
    topics_file = Path(__file__).resolve().parents[2] / "knowledge_base" / "eval" / "faq_topics.yml"
    topics = yaml.safe_load(topics_file.read_text(encoding="utf-8"))["topics"]
    entries = {e.id: e for e in load_corpus(REAL_CORPUS)}
    assert set(topics) <= set(entries)
    for e in entries.values():
        assert len(set(e.paraphrases)) >= 8, e.id
        assert e.category in {"after_sales", "logistics", "billing", "product", "general"}
        assert e.answer.startswith(("您好", "非常抱歉")), e.id


def _jaccard(a: str, b: str) -> float:
    sa, sb = set(a.replace(" ", "")), set(b.replace(" ", ""))
    return len(sa & sb) / len(sa | sb)


def test_dev_set_shape_and_distinct_from_training_text() -> None:
    with DEV_SET.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    ids = {e.id for e in load_corpus(REAL_CORPUS)}
    in_scope = [r for r in rows if r["expected"] != "off_topic"]
    assert len(in_scope) >= 200 and len(rows) - len(in_scope) >= 40
    assert {r["expected"] for r in in_scope} <= ids
    corpus_text = [s for e in load_corpus(REAL_CORPUS) for s in e.sentences()]
    negatives = (REAL_CORPUS.parent / "calibration" / "negatives.txt").read_text(encoding="utf-8").splitlines()
    seen = set(corpus_text) | {n.strip() for n in negatives}
    for r in rows:
        assert r["query"] not in seen, r["query"]
        # "written unlike the corpus paraphrases": no near-copies either
        assert max(_jaccard(r["query"], s) for s in corpus_text) < 0.8, r["query"]


def test_upsert_bumps_version_and_delete(tmp_path: Path) -> None:
    write(tmp_path / "after_sales.yml", [GOOD])
    stored = upsert_entry(tmp_path, {**GOOD, "answer": "您好，新的答复。"})
    assert stored.version == 2
    again = load_corpus(tmp_path)[0]
    assert again.answer == "您好，新的答复。" and again.version == 2 and again.updated_at == stored.updated_at
    new = upsert_entry(tmp_path, FaqEntry.model_validate({**GOOD, "id": "gift_card", "category": "billing"}))
    assert new.version == 1 and (tmp_path / "billing.yml").exists()
    assert {e.id for e in load_corpus(tmp_path)} == {"refund_time", "gift_card"}
    with pytest.raises(CorpusError):
        upsert_entry(tmp_path, {**GOOD, "answer": ""})
    assert delete_entry(tmp_path, "gift_card") is True
    assert delete_entry(tmp_path, "gift_card") is False
    assert [e.id for e in load_corpus(tmp_path)] == ["refund_time"]
