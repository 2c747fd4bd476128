"""A hashed TF-IDF + logistic-regression scorer: fitted with scikit-learn, scored with a few numpy operations.

Scoring one message costs one dot product over the ~100-300 buckets it touches, which is what keeps the sentiment
check inside its 2 ms budget (scikit-learn's own ``transform`` + ``predict_proba`` costs about a millisecond of
Python overhead per call).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from router.sentiment.features import N_BUCKETS, as_arrays, feature_counts

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class HashedLinear:
    """``P(y=1 | text) = sigmoid(w . tfidf(text) / |tfidf(text)| + v . dense(text) + b)``, with per-bucket idf and
    weights; ``v`` (``dense_weights``) is present only for a model fitted with extra dense features (the polarity
    model's lexicon features, :mod:`router.sentiment.polarity_lexicon`)."""

    idf: FloatArray
    weights: FloatArray
    bias: float
    dense_weights: FloatArray | None = None

    def decision(
        self, ids: npt.NDArray[np.int64], tf: npt.NDArray[np.float64], dense: npt.NDArray[np.float64] | None = None
    ) -> float:
        out = self.bias + self._dense_term(dense)
        if ids.size == 0:
            return out
        vals = tf * self.idf[ids]
        norm = math.sqrt(float(vals @ vals))
        if norm == 0.0:
            return out
        return float(vals @ self.weights[ids]) / norm + out

    @property
    def needs_dense(self) -> bool:
        return self.dense_weights is not None

    def _dense_term(self, dense: npt.NDArray[np.float64] | None) -> float:
        if self.dense_weights is None:
            return 0.0
        if dense is None or dense.shape != self.dense_weights.shape:
            raise ValueError(f"this model needs {self.dense_weights.shape[0]} dense features per message")
        return float(dense @ self.dense_weights)

    def probability(
        self, ids: npt.NDArray[np.int64], tf: npt.NDArray[np.float64], dense: npt.NDArray[np.float64] | None = None
    ) -> float:
        return sigmoid(self.decision(ids, tf, dense))

    def decisions(self, tf: sparse.csr_matrix, dense: npt.NDArray[np.float64] | None = None) -> npt.NDArray[np.float64]:
        """:meth:`decision` of every row of a :func:`count_matrix` (and dense matrix) at once, for evaluation."""
        x = tf @ sparse.diags(self.idf.astype(np.float64))
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        raw = np.asarray(x @ self.weights.astype(np.float64)).ravel()
        out = np.full(tf.shape[0], self.bias, dtype=np.float64)
        if self.dense_weights is not None:
            if dense is None or dense.shape != (tf.shape[0], self.dense_weights.shape[0]):
                raise ValueError(f"this model needs {self.dense_weights.shape[0]} dense features per message")
            out += dense @ self.dense_weights.astype(np.float64)
        nz = norms > 0.0
        out[nz] += raw[nz] / norms[nz]
        return out

    def to_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"idf": self.idf, "weights": self.weights, "bias": self.bias}
        if self.dense_weights is not None:
            state["dense_weights"] = self.dense_weights
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> HashedLinear:
        idf = np.asarray(state["idf"], dtype=np.float32)
        weights = np.asarray(state["weights"], dtype=np.float32)
        if idf.shape != (N_BUCKETS,) or weights.shape != (N_BUCKETS,):
            raise ValueError(f"expected arrays of {N_BUCKETS} buckets, got {idf.shape} and {weights.shape}")
        dense = state.get("dense_weights")
        dense_weights = None if dense is None else np.asarray(dense, dtype=np.float32).ravel()
        return cls(idf=idf, weights=weights, bias=float(state["bias"]), dense_weights=dense_weights)


@dataclass(frozen=True)
class MeanLinear:
    """The mean decision of several :class:`HashedLinear` models over the same hashed features.

    The polarity model is the mean of one fitted on product reviews alone (the best in that domain) and one that
    also sees the polarity lexicon and the authored service reviews (better on service complaints); see
    ``bench/RESULTS.md``. Scoring costs one dot product per member.
    """

    members: tuple[HashedLinear, ...]

    def __post_init__(self) -> None:
        if not self.members:
            raise ValueError("MeanLinear needs at least one member")

    @property
    def needs_dense(self) -> bool:
        return any(m.needs_dense for m in self.members)

    def decision(
        self, ids: npt.NDArray[np.int64], tf: npt.NDArray[np.float64], dense: npt.NDArray[np.float64] | None = None
    ) -> float:
        return sum(m.decision(ids, tf, dense if m.needs_dense else None) for m in self.members) / len(self.members)

    def probability(
        self, ids: npt.NDArray[np.int64], tf: npt.NDArray[np.float64], dense: npt.NDArray[np.float64] | None = None
    ) -> float:
        return sigmoid(self.decision(ids, tf, dense))

    def decisions(self, tf: sparse.csr_matrix, dense: npt.NDArray[np.float64] | None = None) -> npt.NDArray[np.float64]:
        total = np.zeros(tf.shape[0], dtype=np.float64)
        for m in self.members:
            total += m.decisions(tf, dense if m.needs_dense else None)
        return total / len(self.members)

    def to_state(self) -> dict[str, Any]:
        return {"members": [m.to_state() for m in self.members]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> MeanLinear:
        """A state of :meth:`to_state`, or of a single :class:`HashedLinear` (read as a mean of one)."""
        if "members" in state:
            return cls(tuple(HashedLinear.from_state(m) for m in state["members"]))
        return cls((HashedLinear.from_state(state),))


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def count_matrix(normalized_texts: Sequence[str]) -> sparse.csr_matrix:
    """Sublinear tf (1 + ln tf) of every text as a CSR matrix of ``N_BUCKETS`` columns."""
    indptr = [0]
    indices: list[npt.NDArray[np.int64]] = []
    data: list[npt.NDArray[np.float64]] = []
    for text in normalized_texts:
        ids, tf = as_arrays(feature_counts(text))
        order = np.argsort(ids)
        indices.append(ids[order])
        data.append(tf[order])
        indptr.append(indptr[-1] + ids.size)
    return sparse.csr_matrix(
        (
            np.concatenate(data) if data else np.zeros(0),
            np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64),
            np.asarray(indptr),
        ),
        shape=(len(normalized_texts), N_BUCKETS),
    )


def fit_hashed_linear(
    tf: sparse.csr_matrix,
    y: npt.NDArray[np.int64],
    *,
    c: float,
    min_df: int = 2,
    nb_weighting: bool = True,
    class_weight: str | None = None,
    max_iter: int = 3000,
    dense: npt.NDArray[np.float64] | None = None,
    dense_scale: float = 1.0,
    sample_weight: npt.NDArray[np.float64] | None = None,
) -> HashedLinear:
    """Fit TF-IDF (smooth idf, l2 rows) + optional NB log-count-ratio scaling + logistic regression.

    NB scaling (Wang & Manning 2012, "NBSVM") multiplies each feature by the log ratio of its frequency in positive
    vs. negative texts before the regression; it helps on short reviews. Buckets seen in fewer than ``min_df``
    training texts get idf 0, i.e. are ignored. ``dense`` (one row per text) is appended to the TF-IDF columns times
    ``dense_scale`` (which sets how cheap its weights are under the same L2 penalty); its weights are stored
    unscaled, so :meth:`HashedLinear.decision` takes the raw features.
    """
    n_docs = tf.shape[0]
    binary = tf.copy()
    binary.data = np.ones_like(binary.data)
    df = np.asarray(binary.sum(axis=0)).ravel()
    idf = np.log((1.0 + n_docs) / (1.0 + df)) + 1.0
    idf[df < min_df] = 0.0

    x = tf @ sparse.diags(idf)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norms[norms == 0.0] = 1.0
    x = sparse.diags(1.0 / norms) @ x

    if nb_weighting:
        pos = np.asarray(binary[y == 1].sum(axis=0)).ravel() + 1.0
        neg = np.asarray(binary[y == 0].sum(axis=0)).ravel() + 1.0
        ratio = np.log((pos / pos.sum()) / (neg / neg.sum()))
    else:
        ratio = np.ones(N_BUCKETS)
    ratio[df < min_df] = 0.0
    x = (x @ sparse.diags(ratio)).tocsr()

    # Only the columns in use go to the solver (2M mostly empty columns would only slow lbfgs down).
    used = np.flatnonzero(ratio != 0.0)
    design = x[:, used]
    if dense is not None:
        if dense.ndim != 2 or dense.shape[0] != n_docs:
            raise ValueError(f"dense features: expected {n_docs} rows, got shape {dense.shape}")
        design = sparse.hstack([design, sparse.csr_matrix(dense_scale * dense)]).tocsr()
    clf = LogisticRegression(C=c, max_iter=max_iter, class_weight=class_weight)
    clf.fit(design, y, sample_weight=sample_weight)
    coef = clf.coef_.ravel()
    weights = np.zeros(N_BUCKETS, dtype=np.float64)
    weights[used] = coef[: used.size] * ratio[used]
    dense_weights = None if dense is None else (coef[used.size :] * dense_scale).astype(np.float32)
    return HashedLinear(
        idf=idf.astype(np.float32),
        weights=weights.astype(np.float32),
        bias=float(clf.intercept_[0]),
        dense_weights=dense_weights,
    )
