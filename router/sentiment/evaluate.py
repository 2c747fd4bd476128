"""Angry-vs-not evaluation of a TSV with columns ``text`` and ``label`` (``angry`` or ``neutral``)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from router.sentiment.errors import EvalFileError

GOLD_LABELS = ("angry", "neutral")


class EvalMetrics(TypedDict):
    n: int
    n_angry: int
    angry_recall: float
    angry_precision: float
    false_alarm_rate: float
    accuracy: float


@dataclass(frozen=True, slots=True)
class LabelledText:
    text: str
    angry: bool


def read_eval_tsv(path: Path) -> list[LabelledText]:
    """Read a dev/eval TSV; raises :class:`EvalFileError` on a missing file, missing columns or unknown labels."""
    if not path.is_file():
        raise EvalFileError(path, "file not found")
    rows: list[LabelledText] = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        if reader.fieldnames is None or not {"text", "label"} <= set(reader.fieldnames):
            raise EvalFileError(path, f"expected columns text and label, got {reader.fieldnames}")
        for lineno, row in enumerate(reader, start=2):
            label = (row["label"] or "").strip()
            if label not in GOLD_LABELS:
                raise EvalFileError(path, f"line {lineno}: label {label!r} is not one of {', '.join(GOLD_LABELS)}")
            rows.append(LabelledText(row["text"] or "", label == "angry"))
    if not rows:
        raise EvalFileError(path, "no rows")
    return rows


def angry_metrics(gold: Sequence[bool], predicted: Sequence[bool]) -> EvalMetrics:
    """Recall of angry, false-alarm rate (angry predicted on a non-angry row) and accuracy of angry-vs-not."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    tp = sum(g and p for g, p in zip(gold, predicted, strict=True))
    fp = sum(p and not g for g, p in zip(gold, predicted, strict=True))
    correct = sum(g == p for g, p in zip(gold, predicted, strict=True))
    n_angry = sum(gold)
    n_calm = len(gold) - n_angry
    return {
        "n": len(gold),
        "n_angry": n_angry,
        "angry_recall": round(tp / n_angry, 4) if n_angry else 0.0,
        "angry_precision": round(tp / (tp + fp), 4) if tp + fp else 0.0,
        "false_alarm_rate": round(fp / n_calm, 4) if n_calm else 0.0,
        "accuracy": round(correct / len(gold), 4) if gold else 0.0,
    }


def evaluate(rows: Sequence[LabelledText], is_angry: Callable[[str], bool]) -> EvalMetrics:
    return angry_metrics([r.angry for r in rows], [is_angry(r.text) for r in rows])
