"""``kefu sentiment train``: builds the artifact from the public data sets, deterministically."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from router.sentiment import data
from router.sentiment.analyzer import SentimentAnalyzer
from router.sentiment.features import normalize, warm_up
from router.sentiment.linear import count_matrix, fit_hashed_linear
from router.sentiment.rules import load_lexicon

DEFAULT_SEED = 13
# Chosen by bench/sentiment_select.py (validation folds carved from the training data only, see bench/RESULTS.md):
# plain TF-IDF with weak regularisation beat NB log-count-ratio scaling and C = 1 on the mean of the category folds
# and on the in-domain fold.
POLARITY_C = 8.0
POLARITY_NB = False
ANGER_C = 1.0
ANGER_POSITIVE = ("anger",)
SERVICE_QUESTIONS = 3000
STRONG_ANGER_WEIGHT = 2.0


@dataclass(frozen=True, slots=True)
class TrainReport:
    path: Path
    polarity_examples: int
    anger_examples: int
    seconds: float


def _order(examples: list[data.Example], seed: int) -> list[data.Example]:
    # A seeded shuffle so that the solver sees the same row order on every machine, whatever the file order.
    rng = np.random.default_rng(seed)
    return [examples[i] for i in rng.permutation(len(examples))]


def build_analyzer(datasets: Path, *, seed: int = DEFAULT_SEED) -> SentimentAnalyzer:
    """Train both models from ``datasets`` (see :mod:`router.sentiment.data` for sources and split)."""
    warm_up()
    polarity_set = _order(data.polarity_training_set(datasets), seed)
    strong = tuple(e.term for e in load_lexicon() if e.weight >= STRONG_ANGER_WEIGHT)
    anger_set = _order(
        data.cluemotion(datasets, "valid", positive=ANGER_POSITIVE)
        + data.service_questions(datasets, SERVICE_QUESTIONS, seed, exclude_terms=strong),
        seed,
    )
    with threadpool_limits(limits=1):
        x_pol = count_matrix([normalize(e.text) for e in polarity_set])
        y_pol = np.asarray([e.label for e in polarity_set], dtype=np.int64)
        polarity = fit_hashed_linear(x_pol, y_pol, c=POLARITY_C, nb_weighting=POLARITY_NB)
        x_ang = count_matrix([normalize(e.text) for e in anger_set])
        y_ang = np.asarray([e.label for e in anger_set], dtype=np.int64)
        # Anger is ~12% of CLUEmotion; balanced weights put the model's 0.5 at the decision boundary the rule
        # layer expects.
        anger = fit_hashed_linear(x_ang, y_ang, c=ANGER_C, nb_weighting=False, class_weight="balanced")
    digest = hashlib.sha256()
    for e in polarity_set + anger_set:
        digest.update(e.text.encode("utf-8"))
    meta = {
        "seed": seed,
        "polarity_examples": len(polarity_set),
        "anger_examples": len(anger_set),
        "anger_positive": list(ANGER_POSITIVE),
        "anger_negative_extra": f"{SERVICE_QUESTIONS} BQ_corpus dev sentences (seeded sample)",
        "split": "online_shopping_10_cats test = md5(review utf-8) hex starts with 0/1/2; train = the rest",
        "training_text_sha256": digest.hexdigest(),
    }
    return SentimentAnalyzer(polarity, anger, meta=meta)


def train(out: Path, datasets: Path | None = None, *, seed: int = DEFAULT_SEED) -> TrainReport:
    started = time.perf_counter()
    analyzer = build_analyzer(datasets or data.default_datasets_dir(), seed=seed)
    analyzer.save(out)
    return TrainReport(
        path=out,
        polarity_examples=int(analyzer.meta["polarity_examples"]),
        anger_examples=int(analyzer.meta["anger_examples"]),
        seconds=time.perf_counter() - started,
    )
