"""Score fusion and calibration: per-candidate features, a learned ranker, and a confidence calibrator.

Both models are logistic regressions stored as plain JSON (coefficients, feature means/scales), so loading needs no
pickle. ``mode`` selects which signals are used: ``hybrid`` (dense + BM25), ``dense`` only or ``bm25`` only; the
single-signal modes exist so the benchmark compares like with like, each with its own calibrator.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

Mode = Literal["hybrid", "dense", "bm25"]
MODES: tuple[Mode, ...] = ("hybrid", "dense", "bm25")


@dataclass
class Candidates:
    """Candidate entries for one query with their raw signals (arrays aligned with ``entries``)."""

    entries: np.ndarray  # entry positions
    dense: np.ndarray  # max cosine between the query and the entry's sentences
    centroid: np.ndarray  # cosine to the mean of the entry's sentence vectors
    clf: np.ndarray  # entry classifier probability (zeros when the index has no classifier)
    bm25: np.ndarray  # max BM25 of the entry's sentences
    entry_bm25: np.ndarray  # BM25 of the whole entry (all sentences + tags as one document)
    coverage: np.ndarray  # idf-weighted share of the query's words found in the best-matching sentence
    query_chars: int
    oov: float  # share of query words unknown to the corpus vocabulary
    neg_sim: float = 0.0  # max cosine to the known out-of-scope messages


def _rel(x: np.ndarray) -> np.ndarray:
    m = float(x.max()) if x.size else 0.0
    return x / m if m > 0 else np.zeros_like(x)


def _sat(x: np.ndarray | float) -> np.ndarray:
    return np.asarray(x) / (np.asarray(x) + 5.0)


def ranking_features(c: Candidates, mode: Mode) -> np.ndarray:
    if mode == "dense":
        return c.dense[:, None].astype(np.float64)
    sparse = [_rel(c.entry_bm25), _sat(c.entry_bm25), _rel(c.bm25), _sat(c.bm25), c.coverage]
    if mode == "bm25":
        return np.stack(sparse, axis=1).astype(np.float64)
    return np.stack([c.dense, c.centroid, np.log(c.clf + 1e-4), *sparse], axis=1).astype(np.float64)


def decision_features(c: Candidates, ranked: np.ndarray, order: np.ndarray, mode: Mode) -> np.ndarray:
    """Features of the top-ranked candidate that predict whether it is the right answer (for the calibrator)."""
    t = int(order[0])
    r1 = float(ranked[t])
    r2 = float(ranked[order[1]]) if order.size > 1 else r1 - 5.0
    loglen = math.log1p(c.query_chars)
    if mode == "dense":
        d2 = float(c.dense[order[1]]) if order.size > 1 else 0.0
        return np.array([float(c.dense[t]), float(c.dense[t]) - d2, loglen])
    sparse = [float(_sat(c.entry_bm25[t])), float(_sat(c.bm25[t])), float(c.coverage[t]), c.oov]
    if mode == "bm25":
        return np.array([r1, r1 - r2, *sparse, loglen])
    return np.array([r1, r1 - r2, float(c.dense[t]), float(c.dense.max()), float(c.centroid[t]),
                     math.log(float(c.clf[t]) + 1e-4), *sparse, loglen, c.neg_sim, float(c.dense[t]) - c.neg_sim])


@dataclass
class LinearModel:
    """A standardised logistic regression: p = sigmoid(w . (x - mean) / scale + b)."""

    coef: np.ndarray
    intercept: float
    mean: np.ndarray
    scale: np.ndarray

    def logit(self, x: np.ndarray) -> np.ndarray:
        z = (np.atleast_2d(x) - self.mean) / self.scale
        return np.asarray(z @ self.coef + self.intercept)

    def proba(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(1.0 / (1.0 + np.exp(-self.logit(x))))

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, *, c: float = 1.0, balanced: bool = True) -> LinearModel:
        from sklearn.linear_model import LogisticRegression

        mean = x.mean(axis=0)
        scale = x.std(axis=0)
        scale[scale < 1e-9] = 1.0
        lr = LogisticRegression(C=c, class_weight="balanced" if balanced else None, max_iter=2000)
        lr.fit((x - mean) / scale, y)
        return cls(lr.coef_[0].astype(np.float64), float(lr.intercept_[0]), mean, scale)

    def to_dict(self) -> dict[str, object]:
        return {"coef": self.coef.tolist(), "intercept": self.intercept, "mean": self.mean.tolist(),
                "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> LinearModel:
        return cls(np.asarray(d["coef"], dtype=np.float64), float(d["intercept"]),  # type: ignore[arg-type]
                   np.asarray(d["mean"], dtype=np.float64), np.asarray(d["scale"], dtype=np.float64))


@dataclass
class FusionModel:
    """Ranker + calibrator for one mode, and the thresholds that turn confidence into a decision."""

    mode: Mode
    ranker: LinearModel | None  # None for dense mode (ranks by cosine directly)
    calibrator: LinearModel
    trained_on: str

    def rank(self, c: Candidates) -> np.ndarray:
        f = ranking_features(c, self.mode)
        if self.ranker is None:
            return f[:, 0]
        return self.ranker.logit(f)

    def confidence(self, c: Candidates, ranked: np.ndarray, order: np.ndarray) -> float:
        if order.size == 0:
            return 0.0
        return float(self.calibrator.proba(decision_features(c, ranked, order, self.mode))[0])

    def to_dict(self) -> dict[str, object]:
        return {"mode": self.mode, "ranker": self.ranker.to_dict() if self.ranker else None,
                "calibrator": self.calibrator.to_dict(), "trained_on": self.trained_on}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> FusionModel:
        ranker = d.get("ranker")
        return cls(d["mode"], LinearModel.from_dict(ranker) if isinstance(ranker, dict) else None,  # type: ignore[arg-type]
                   LinearModel.from_dict(d["calibrator"]), str(d["trained_on"]))  # type: ignore[arg-type]


def decide(confidence: float, *, answer_threshold: float, clarify_threshold: float) -> str:
    """``answer`` when confident, ``clarify`` (offer the top 3) in between, ``decline`` (out of scope) below."""
    if confidence >= answer_threshold:
        return "answer"
    if confidence >= clarify_threshold:
        return "clarify"
    return "decline"


def save_models(path: Path, models: dict[str, FusionModel]) -> None:
    path.write_text(json.dumps({m: fm.to_dict() for m, fm in models.items()}, ensure_ascii=False, indent=1))


def load_models(path: Path) -> dict[str, FusionModel]:
    raw = json.loads(path.read_text())
    return {m: FusionModel.from_dict(d) for m, d in raw.items()}
