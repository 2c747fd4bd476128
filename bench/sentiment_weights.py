"""Issue 16, last goal: more BQ-style and colloquial-question negatives for the anger model, and the rule weights
chosen again for each candidate over cached model outputs, under a selection rule written down before any figure.

Why: in the issue-16 selection the validation set of service questions from the training splits gave BQ_corpus dev
0.85 % flagged against AFQMC train 0.10 %: colloquial banking questions are the weak spot, and only about 1,100 of the
anger model's 12,000 non-angry service questions (a seeded sample of BQ_corpus dev + AFQMC train) are BQ-style.

Candidates (``CANDIDATES``; at most three, the shipped model one of them):

* ``shipped``: the committed model (``router/sentiment/model/sentiment.npz``) with the committed rule weights, as
  they are (BIAS -1.25, W_MODEL 5, W_NEGATIVE 1.25, W_ACCUSE 1.5, accusation also in requests). Its weights are not
  chosen again: they were chosen on a validation set that held the validation set below.
* ``bq_half``: the anger model's non-angry service questions are a seeded sample of 12,000 AFQMC train sentences plus
  every sentence of the *training half* of BQ_corpus dev (about 3,400 instead of about 1,100 BQ-style sentences).
* ``bq_half_lcqmc``: ``bq_half`` plus every LCQMC dev sentence (open-domain colloquial questions from Baidu Zhidao)
  that is not also an LCQMC test sentence (LCQMC test is an evaluation set of the FAQ retrieval).

For every candidate every non-angry sentence added leaves out the real-traffic proxy (AFQMC dev + BQ_corpus test,
``router.sentiment.data.real_traffic_proxy``) and sentences with a strong anger term (as ``service_questions`` does);
CLUEmotion2020 valid, the class-balanced logistic regression (``ANGER_C``), the seed and the row order are those of
``router/sentiment/training.py``; the polarity model is unchanged (the file's). A variant's anger model is refitted
here alone (``fit``); should one be adopted, ``kefu sentiment train`` with the code change must give the same arrays.

The BQ_corpus dev halves: the pair graph of BQ dev (every row joins its two sentences, whatever the label), proxy
sentences removed first, split by connected component: a component is in the training half iff the md5 hex digest
(UTF-8) of its smallest sentence starts with 0-7. Paraphrases of a training sentence therefore never sit in the
validation half (a per-sentence split would let them leak and flatter the validation rate).

Validation set (service questions from training splits, none in any candidate's anger training set, none in the
proxy): every sentence of the BQ dev validation half, and a seeded sample (seed 13) of 3,000 AFQMC train sentences;
its rate is the mean of the two rates, as in the issue-16 selection. Left out of both: every sentence any candidate
trains on (the shipped model's sample holds some sentences of the validation half; their paraphrases stay, so the
shipped row's validation rate is if anything optimistic).

Rule weights (``GRID``, the grid of the issue-16 selection): BIAS {-1, -1.25, -1.5, -1.75, -2, -2.25} x W_MODEL
{2, 3, 4, 5} x W_NEGATIVE {0.75, 1.25, 1.75, 2.25} x W_ACCUSE {0, 0.8, 1.5} x accusation switched off in requests
{no, yes} (yes: ``W_ACCUSE`` is not added when the message is a request or question), for each variant's anger model.

Selection rule (``choose``), mirroring the issue-16 one: feasible are the (candidate, weights) points with flow dev
recall >= 0.90 and false alarms <= 1 % (router/eval/sentiment_flow_dev.tsv), service dev recall >= 0.90 and false
alarms <= 5 % (router/eval/sentiment_dev.tsv), and validation rate <= 0.5 %. Among them: the highest mean of the two
recalls, then the lower validation rate, then the fewest changes (one per weight that differs from the shipped one,
one for the accusation switch, one per data change: ``bq_half`` 1, ``bq_half_lcqmc`` 2), then the name. If none is
feasible, the shipped model stays. Flagged = anger >= 0.5 (the offer threshold). The check set
(router/eval/sentiment_check.tsv) is reported, not used.

Diagnostic, never a candidate: ``shipped_regrid``, the shipped anger model with the weights the same rule would choose
for it over the grid on this validation set; it tells the effect of the new negatives from that of re-choosing the
weights on a new validation set.

Adoption: the chosen point is adopted only if it is not the shipped model, its CLUEmotion2020 test anger F1 stays above
0.270 and 0.232 and, scored once afterwards, the proxy flags at most 0.5 % (the goal of issue 16).

After the choice (``select`` prints both; neither chooses): CLUEmotion2020 test anger F1 of every candidate at its
chosen weights (must stay above 0.270 and 0.232, the peers of round 4) and the handoff threshold of the chosen point
(the lowest of {0.6, 0.7, 0.75, 0.8, 0.85, 0.9} that no non-angry message of the flow dev or dev set reaches). The
polarity model is the same for every candidate, so held-out online_shopping accuracy is the shipped 0.944 for all
(checked by ``bench/sentiment_figures.py`` on the chosen model). The proxy is not read here: the chosen candidate is
scored once, afterwards, by ``bench/sentiment_figures.py``.

Third attempt (2026-12-07, ``select --rule precision``; written and committed before any figure of it existed, and
informed by the proxy figures of the two earlier attempts, which both left the proxy above 0.5 %): both earlier rules
took the *highest recall* whose validation rate stayed under 0.5 %, so each chosen point sat at the edge of a
validation set that underestimates the proxy (its BQ half gave the shipped model 0.65 % where BQ test gives 1.15 %).
The precision rule takes the issue's recall goals as floors instead of maximising recall above them: among the points
of the *shipped anger model* (no data change; the GRID plus the shipped weights, i.e. ``shipped_regrid``) with flow dev
recall >= 0.90 and false alarms <= 1 % and service dev recall >= 0.90 and false alarms <= 5 %, the **lowest
validation rate**, then the higher mean of the two recalls, then the fewest changes. No validation ceiling (the
lowest rate is taken whatever it is). The data-change candidates are not searched again (neither helped). Adoption:
as above (CLUEmotion2020 test anger F1 above 0.270 and 0.232; the proxy scored once afterwards, at most 0.5 %), and the
chosen weights go into router/sentiment/rules.py with the handoff threshold the same way as before.

Run (from the repository root; caches in ``var/sentweights/``)::

    export PYTHONPATH=$PWD KEFU_DATASETS=/work/shared/datasets
    nice -n 10 .venv/bin/python bench/sentiment_weights.py fit bq_half
    nice -n 10 .venv/bin/python bench/sentiment_weights.py fit bq_half_lcqmc
    nice -n 10 .venv/bin/python bench/sentiment_weights.py terms      # per-message model outputs and rule terms
    nice -n 10 .venv/bin/python bench/sentiment_weights.py select --json var/sentweights/select.json
    # the third attempt (the shipped anger model, weights re-chosen by the precision rule)
    nice -n 10 .venv/bin/python bench/sentiment_weights.py select --rule precision --json var/sentweights/precision.json
    # optional check of the refit route: refit the shipped anger model and compare it with the file's
    nice -n 10 .venv/bin/python bench/sentiment_weights.py fit shipped
    # the chosen variant's artifact for sentiment_figures.py (the file's polarity model + the refitted anger model)
    nice -n 10 .venv/bin/python bench/sentiment_weights.py artifact bq_half --out var/sentweights/bq_half.npz
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
import json
import math
import os
import random
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CACHE = REPO / "var" / "sentweights"
MODEL = REPO / "router" / "sentiment" / "model" / "sentiment.npz"
SEED = 13
AFQMC_VALIDATION = 3000
AFQMC_NEGATIVES = 12000
LCQMC_DEV = Path("LCQMC") / "dev.txt"
LCQMC_TEST = Path("LCQMC") / "test.txt"

CANDIDATES = ("shipped", "bq_half", "bq_half_lcqmc")
DATA_CHANGES = {"shipped": 0, "bq_half": 1, "bq_half_lcqmc": 2, "shipped_regrid": 0}
DIAGNOSTICS = ("shipped_regrid",)  # reported, never chosen
MODEL_OF = {"shipped_regrid": "shipped"}
# BIAS, W_MODEL, W_NEGATIVE, W_ACCUSE, accusation off in requests: the weights shipped before the third attempt (the
# "shipped" candidate of the first two rules and the starting point of the third); rules.py has the third's since
SHIPPED_WEIGHTS = (-1.25, 5.0, 1.25, 1.5, False)
GRID = tuple(
    itertools.product(
        (-1.0, -1.25, -1.5, -1.75, -2.0, -2.25), (2.0, 3.0, 4.0, 5.0), (0.75, 1.25, 1.75, 2.25), (0.0, 0.8, 1.5),
        (False, True),
    )
)
GOALS = {"flow_recall": 0.90, "flow_fa": 0.01, "dev_recall": 0.90, "dev_fa": 0.05, "validation": 0.005}
HANDOFF_CHOICES = (0.6, 0.7, 0.75, 0.8, 0.85, 0.9)
EVAL_SETS = ("flow_dev", "dev", "check")
TERM_SETS = (*EVAL_SETS, "val_bq", "val_afqmc", "cluemotion_test")


def _log(msg: str) -> None:
    print(f"[sentiment_weights {datetime.now(UTC):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- the data of the candidates ------------------------------------------------------------------------------------


def bq_dev_halves(datasets: Path) -> tuple[set[str], set[str]]:
    """(training half, validation half) of the BQ_corpus dev sentences outside the proxy, split by connected
    component of the pair graph (module docstring)."""
    from router.sentiment import data as sdata

    proxy = set(sdata.real_traffic_proxy(datasets))
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    with (datasets / sdata.BQ_DEV).open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            pair = [t for t in ((row["sentence1"] or "").strip(), (row["sentence2"] or "").strip()) if t]
            pair = [t for t in pair if t not in proxy]
            for t in pair:
                find(t)
            if len(pair) == 2:
                parent[find(pair[0])] = find(pair[1])
    components: dict[str, list[str]] = {}
    for t in parent:
        components.setdefault(find(t), []).append(t)
    train: set[str] = set()
    validation: set[str] = set()
    for members in components.values():
        key = hashlib.md5(min(members).encode("utf-8")).hexdigest()
        (train if key[0] in "01234567" else validation).update(members)
    return train, validation


def lcqmc_dev_sentences(datasets: Path) -> set[str]:
    """Distinct LCQMC dev sentences that are not LCQMC test sentences."""

    def sentences(path: Path) -> set[str]:
        out: set[str] = set()
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                out.update(t.strip() for t in line.rstrip("\n").split("\t")[:2] if t.strip())
        return out

    return sentences(datasets / LCQMC_DEV) - sentences(datasets / LCQMC_TEST)


def anger_examples(datasets: Path, candidate: str) -> list[Any]:
    """The anger model's training examples of a candidate, in training.py's seeded order."""
    from router.sentiment import data as sdata
    from router.sentiment import training
    from router.sentiment.rules import load_lexicon

    strong = tuple(e.term for e in load_lexicon() if e.weight >= training.STRONG_ANGER_WEIGHT)
    seed = training.DEFAULT_SEED
    clue = sdata.cluemotion(datasets, "valid", positive=training.ANGER_POSITIVE)
    if candidate == "shipped":
        negatives = sdata.service_questions(datasets, training.SERVICE_QUESTIONS, seed, exclude_terms=strong)
        return training._order(clue + negatives, seed)
    proxy = set(sdata.real_traffic_proxy(datasets))

    def keep(texts: set[str]) -> list[str]:
        return sorted(t for t in texts - proxy if not any(term in t for term in strong))

    afqmc_pool = keep(sdata._afqmc_sentences(datasets / sdata.AFQMC_TRAIN))
    chosen = set(random.Random(seed).sample(afqmc_pool, AFQMC_NEGATIVES))
    bq_train, _ = bq_dev_halves(datasets)
    texts = sorted(chosen) + keep(bq_train - chosen)
    if candidate == "bq_half_lcqmc":
        texts += keep(lcqmc_dev_sentences(datasets) - set(texts))
    elif candidate != "bq_half":
        raise SystemExit(f"unknown candidate {candidate}")
    return training._order(clue + [sdata.Example(t, 0) for t in texts], seed)


def validation_sets(datasets: Path) -> dict[str, list[str]]:
    from router.sentiment import data as sdata

    proxy = set(sdata.real_traffic_proxy(datasets))
    trained = {e.text for c in CANDIDATES for e in anger_examples(datasets, c)}
    _, bq_validation = bq_dev_halves(datasets)
    val_bq = sorted(bq_validation - trained - proxy)
    pool = sorted(sdata._afqmc_sentences(datasets / sdata.AFQMC_TRAIN) - proxy - trained - set(val_bq))
    val_afqmc = sorted(random.Random(SEED).sample(pool, AFQMC_VALIDATION))
    return {"val_bq": val_bq, "val_afqmc": val_afqmc}


# --- step fit: a candidate's anger model ---------------------------------------------------------------------------


def fit_anger(datasets: Path, candidate: str) -> tuple[Any, int]:
    """The anger model exactly as training.build_analyzer fits it, on the candidate's examples."""
    from threadpoolctl import threadpool_limits

    from router.sentiment import artifact, training
    from router.sentiment.features import normalize, warm_up
    from router.sentiment.linear import count_matrix, fit_hashed_linear

    warm_up()
    examples = anger_examples(datasets, candidate)
    with threadpool_limits(limits=1):
        x = count_matrix([normalize(e.text) for e in examples])
        y = np.asarray([e.label for e in examples], dtype=np.int64)
        model = artifact.quantize(
            fit_hashed_linear(x, y, c=training.ANGER_C, nb_weighting=False, class_weight="balanced")
        )
    return model, len(examples)


def anger_path(candidate: str) -> Path:
    return CACHE / f"anger_{candidate}.npz"


def save_anger(model: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path.with_suffix(".tmp.npz"), idf=model.idf, weights=model.weights, bias=np.asarray([model.bias]))
    os.replace(path.with_suffix(".tmp.npz"), path)


def load_anger(candidate: str) -> Any:
    from router.sentiment import SentimentAnalyzer
    from router.sentiment.linear import HashedLinear

    if candidate == "shipped":
        return SentimentAnalyzer.load(MODEL).anger_model
    with np.load(anger_path(candidate)) as npz:
        return HashedLinear(idf=npz["idf"], weights=npz["weights"], bias=float(npz["bias"][0]))


def step_fit(datasets: Path, candidate: str) -> None:
    started = time.perf_counter()
    model, n = fit_anger(datasets, candidate)
    info: dict[str, Any] = {"candidate": candidate, "examples": n, "seconds": round(time.perf_counter() - started, 1)}
    if candidate == "shipped":
        shipped = load_anger("shipped")
        info["same_as_file"] = bool(
            np.array_equal(model.idf, shipped.idf)
            and np.array_equal(model.weights, shipped.weights)
            and model.bias == shipped.bias
        )
    else:
        save_anger(model, anger_path(candidate))
    info["load"] = _load()
    _log(json.dumps(info))


# --- step terms: per-message model outputs and rule terms -----------------------------------------------------------


def term_texts(datasets: Path) -> dict[str, tuple[list[str], list[int]]]:
    from router.sentiment import data as sdata
    from router.sentiment.evaluate import read_eval_tsv

    sets: dict[str, tuple[list[str], list[int]]] = {}
    for name in EVAL_SETS:
        rows = read_eval_tsv(REPO / "router" / "eval" / f"sentiment_{name}.tsv")
        sets[name] = ([r.text for r in rows], [int(r.angry) for r in rows])
    for name, texts in validation_sets(datasets).items():
        sets[name] = (texts, [0] * len(texts))
    clue = sdata.cluemotion(datasets, "test")
    sets["cluemotion_test"] = ([e.text for e in clue], [e.label for e in clue])
    return sets


def step_terms(datasets: Path) -> None:
    """For every message: skipped (entities only), the polarity, the rule terms that do not depend on the weights,
    the request/flow/accusing flags and each candidate's anger-model probability, exactly as SentimentAnalyzer.score
    computes them."""
    from router.sentiment import SentimentAnalyzer
    from router.sentiment.entities import has_content
    from router.sentiment.features import as_arrays, feature_counts, normalize, words
    from router.sentiment.rules import rule_features

    analyzer = SentimentAnalyzer.load(MODEL)
    models = {c: load_anger(c) for c in CANDIDATES}
    out: dict[str, Any] = {}
    for name, (texts, labels) in term_texts(datasets).items():
        started = time.perf_counter()
        rows: dict[str, list[Any]] = {k: [] for k in ("skip", "polarity", "rest", "request", "flow", "accusing")}
        p = {c: [] for c in CANDIDATES}
        for text in texts:
            normalized = normalize(text)
            if not has_content(normalized) and "!" not in normalized:
                for key in rows:
                    rows[key].append(key == "skip")
                for c in CANDIDATES:
                    p[c].append(0.0)
                continue
            toks = words(normalized)
            ids, tf = as_arrays(feature_counts(normalized, toks))
            polarity = 2.0 * analyzer.polarity_model.probability(ids, tf, analyzer._dense(toks)) - 1.0
            rules = rule_features(normalized, tokens=toks, lexicon=analyzer.lexicon)
            assert not rules.repeated and rules.fallbacks == 0.0
            rows["skip"].append(False)
            rows["polarity"].append(polarity)
            # the terms after the polarity one, in anger_logit's order (repeated and fallbacks are 0 here)
            rows["rest"].append(
                (
                    rules.lexicon,
                    rules.punctuation,
                    1.0 if rules.insist else 0.0,
                    1.0 if rules.waiting else 0.0,
                )
            )
            rows["request"].append(rules.request)
            rows["flow"].append(rules.flow)
            rows["accusing"].append(rules.accusing)
            for c, model in models.items():
                p[c].append(model.probability(ids, tf))
        out[name] = {"texts": texts, "labels": labels, **rows, "p": p}
        _log(f"{name}: {len(texts)} messages, {time.perf_counter() - started:.1f} s, load {_load()}")
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / "terms.json").write_text(json.dumps(out, ensure_ascii=False), encoding="utf-8")


# --- step select: the grid and the rule ----------------------------------------------------------------------------


def logits(t: dict[str, Any], candidate: str, weights: Sequence[Any]) -> np.ndarray:
    """anger_logit of every message for one (candidate, weights) point, term by term in anger_logit's order."""
    from router.sentiment.rules import ACCUSE_POLARITY, W_INSIST, W_WAITING

    bias, w_model, w_negative, w_accuse, accuse_off_in_requests = weights
    skip = np.asarray(t["skip"], dtype=bool)
    p = np.asarray(t["p"][MODEL_OF.get(candidate, candidate)], dtype=np.float64)
    pol = np.asarray([0.0 if s else v for s, v in zip(t["skip"], t["polarity"], strict=True)], dtype=np.float64)
    rest = np.asarray([(0.0, 0.0, 0.0, 0.0) if s else v for s, v in zip(t["skip"], t["rest"], strict=True)])
    flow = np.asarray(t["flow"], dtype=bool)
    request = np.asarray(t["request"], dtype=bool)
    accusing = np.asarray(t["accusing"], dtype=bool) & (pol <= ACCUSE_POLARITY)
    if accuse_off_in_requests:
        accusing &= ~request
    z = bias + w_model * (p - 0.5)
    z = z + np.where(flow, 0.0, w_negative) * np.maximum(0.0, -pol)
    z = z + rest[:, 0] + rest[:, 1] + 0.0 + 0.0 + rest[:, 2] * W_INSIST + rest[:, 3] * W_WAITING
    z = z + np.where(accusing, w_accuse, 0.0)
    return np.where(skip, -np.inf, z)


def anger_of(z: np.ndarray) -> np.ndarray:
    from router.sentiment.linear import sigmoid

    return np.asarray([0.0 if math.isinf(v) else sigmoid(float(v)) for v in z])


def flagged_of(z: np.ndarray) -> np.ndarray:
    """anger >= 0.5 as the analyzer decides it (sigmoid of a tiny negative logit can round to 0.5)."""
    from router.sentiment.linear import sigmoid

    out = z >= 0.0
    for i in np.flatnonzero((z < 0.0) & (z > -1e-9)):
        out[i] = sigmoid(float(z[i])) >= 0.5
    return out


def figures(terms: dict[str, Any], candidate: str, weights: Sequence[Any]) -> dict[str, float]:
    row: dict[str, float] = {}
    for name in (*EVAL_SETS, "val_bq", "val_afqmc"):
        flagged = flagged_of(logits(terms[name], candidate, weights))
        labels = np.asarray(terms[name]["labels"]) == 1
        if name.startswith("val_"):
            row[name] = float(flagged.mean())
            row[name + "_n"] = int(flagged.sum())
        else:
            key = {"flow_dev": "flow", "dev": "dev", "check": "check"}[name]
            row[f"{key}_recall"] = float(flagged[labels].mean())
            row[f"{key}_fa"] = float(flagged[~labels].mean())
            row[f"{key}_fa_n"] = int(flagged[~labels].sum())
    row["validation"] = (row["val_bq"] + row["val_afqmc"]) / 2
    row["mean_recall"] = (row["flow_recall"] + row["dev_recall"]) / 2
    return row


def changes(candidate: str, weights: Sequence[Any]) -> int:
    return DATA_CHANGES[candidate] + sum(
        (a != b) for a, b in zip(weights, SHIPPED_WEIGHTS, strict=True)
    )


def feasible(r: dict[str, float]) -> bool:
    return (
        r["flow_recall"] >= GOALS["flow_recall"]
        and r["flow_fa"] <= GOALS["flow_fa"]
        and r["dev_recall"] >= GOALS["dev_recall"]
        and r["dev_fa"] <= GOALS["dev_fa"]
        and r["validation"] <= GOALS["validation"]
    )


def rule_key(point: tuple[str, tuple[Any, ...]], r: dict[str, float]) -> tuple[Any, ...]:
    candidate, weights = point
    return (-round(r["mean_recall"], 9), round(r["validation"], 9), changes(candidate, weights), candidate, weights)


def choose(rows: dict[tuple[str, tuple[Any, ...]], dict[str, float]]) -> tuple[str, tuple[Any, ...]] | None:
    ok = [pt for pt, r in rows.items() if feasible(r)]
    return min(ok, key=lambda pt: rule_key(pt, rows[pt])) if ok else None


def precision_key(point: tuple[str, tuple[Any, ...]], r: dict[str, float]) -> tuple[Any, ...]:
    candidate, weights = point
    return (round(r["validation"], 9), -round(r["mean_recall"], 9), changes(candidate, weights), candidate, weights)


def rank_precision(
    rows: dict[tuple[str, tuple[Any, ...]], dict[str, float]],
) -> list[tuple[str, tuple[Any, ...]]]:
    """The third attempt's rule: the recall and false-alarm goals as floors, then the lowest validation rate (the
    chosen point first)."""
    ok = [pt for pt, r in rows.items() if feasible({**r, "validation": 0.0})]
    return sorted(ok, key=lambda pt: precision_key(pt, rows[pt]))


def points(candidate: str) -> tuple[tuple[Any, ...], ...]:
    return (SHIPPED_WEIGHTS,) if candidate == "shipped" else GRID


def cluemotion_f1(terms: dict[str, Any], candidate: str, weights: Sequence[Any]) -> float:
    t = terms["cluemotion_test"]
    pred = flagged_of(logits(t, candidate, weights))
    gold = np.asarray(t["labels"]) == 1
    return round(2 * int((pred & gold).sum()) / int(pred.sum() + gold.sum()), 4)


def handoff_threshold(terms: dict[str, Any], candidate: str, weights: Sequence[Any]) -> tuple[float | None, float]:
    highest = 0.0
    for name in ("flow_dev", "dev"):
        t = terms[name]
        calm = np.asarray(t["labels"]) == 0
        highest = max(highest, float(anger_of(logits(t, candidate, weights))[calm].max()))
    return next((h for h in HANDOFF_CHOICES if highest < h), None), highest


def load_terms() -> dict[str, Any]:
    """The cached terms, checked: with the weights in router/sentiment/rules.py they must decide exactly as the
    analyzer does (the committed model)."""
    from router.sentiment import SentimentAnalyzer
    from router.sentiment import rules as srules

    terms: dict[str, Any] = json.loads((CACHE / "terms.json").read_text(encoding="utf-8"))
    current = (srules.BIAS, srules.W_MODEL, srules.W_NEGATIVE, srules.W_ACCUSE, False)
    analyzer = SentimentAnalyzer.load(MODEL)
    for name in EVAL_SETS:
        direct = np.asarray([analyzer.score(t).anger >= 0.5 for t in terms[name]["texts"]])
        assert np.array_equal(flagged_of(logits(terms[name], "shipped", current)), direct), name
    return terms


def step_select(datasets: Path) -> dict[str, Any]:
    terms = load_terms()
    every = {(c, w): figures(terms, c, w) for c in (*CANDIDATES, *DIAGNOSTICS) for w in points(c)}
    rows = {pt: r for pt, r in every.items() if pt[0] in CANDIDATES}
    chosen = choose(rows)
    best = {c: choose({pt: r for pt, r in every.items() if pt[0] == c}) for c in (*CANDIDATES, *DIAGNOSTICS)}
    per_candidate: dict[str, Any] = {}
    for c, pt in best.items():
        entry: dict[str, Any] = {"feasible_points": sum(1 for q, r in every.items() if q[0] == c and feasible(r))}
        if pt is not None:
            entry.update(chosen_entry(terms, pt, every[pt]))
        else:
            # diagnostic: the point of the highest mean recall among those that meet every goal but the validation
            near = [q for q, r in every.items() if q[0] == c and feasible({**r, "validation": 0.0})]
            if near:
                q = min(near, key=lambda q: rule_key(q, every[q]))
                entry["without_validation_goal"] = {"weights": list(q[1]), **every[q]}
        per_candidate[c] = entry
    return {
        "chosen": None if chosen is None else {"candidate": chosen[0], "weights": list(chosen[1])},
        "candidates": per_candidate,
        "sizes": {n: len(terms[n]["texts"]) for n in TERM_SETS},
        "load": _load(),
        "time": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "feasible": [
            {"candidate": c, "weights": list(w), **{k: rows[(c, w)][k] for k in ("mean_recall", "validation")}}
            for (c, w) in sorted((pt for pt, r in rows.items() if feasible(r)), key=lambda pt: rule_key(pt, rows[pt]))
        ],
    }


def chosen_entry(terms: dict[str, Any], point: tuple[str, tuple[Any, ...]], row: dict[str, float]) -> dict[str, Any]:
    """A chosen point's figures with what is read after the choice: CLUEmotion test anger F1 and the handoff."""
    entry: dict[str, Any] = {"weights": list(point[1]), "changes": changes(*point), **row}
    entry["cluemotion_test_anger_f1"] = cluemotion_f1(terms, *point)
    entry["handoff"], entry["highest_calm_anger"] = handoff_threshold(terms, *point)
    return entry


def step_select_precision() -> dict[str, Any]:
    """The third attempt: the shipped anger model over the grid (and its shipped weights) under ``rank_precision``."""
    terms = load_terms()
    weights = (SHIPPED_WEIGHTS, *(w for w in GRID if w != SHIPPED_WEIGHTS))
    rows = {("shipped", w): figures(terms, "shipped", w) for w in weights}
    ranked = rank_precision(rows)
    out: dict[str, Any] = {
        "rule": "precision",
        "feasible_points": len(ranked),
        "shipped": rows[("shipped", SHIPPED_WEIGHTS)],
        "top": [{"weights": list(pt[1]), **rows[pt]} for pt in ranked[:10]],
        "load": _load(),
        "time": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
    }
    if ranked:
        out["chosen"] = chosen_entry(terms, ranked[0], rows[ranked[0]])
    return out


def pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def markdown(res: dict[str, Any]) -> str:
    lines = [
        "| candidate | feasible points | weights (BIAS, W_MODEL, W_NEGATIVE, W_ACCUSE, accusation off in requests) |"
        " flow dev recall / false alarms | dev recall / false alarms | check recall / false alarms |"
        " validation (BQ dev half / AFQMC train) | CLUEmotion test anger F1 | handoff |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c, e in res["candidates"].items():
        label = f"{c} (diagnostic)" if c in DIAGNOSTICS else c
        if "weights" not in e:
            lines.append(f"| {label} | 0 | none feasible | | | | | | |")
            continue
        lines.append(
            f"| {label} | {e['feasible_points']} | {', '.join(str(w) for w in e['weights'])} |"
            f" {e['flow_recall']:.3f} / {pct(e['flow_fa'])} | {e['dev_recall']:.3f} / {pct(e['dev_fa'])} |"
            f" {e['check_recall']:.3f} / {pct(e['check_fa'])} | {pct(e['validation'])} ({pct(e['val_bq'])} /"
            f" {pct(e['val_afqmc'])}) | {e['cluemotion_test_anger_f1']:.3f} | {e['handoff']}"
            f" (highest calm {e['highest_calm_anger']:.3f}) |"
        )
    lines.append("")
    lines.append(f"chosen: {res['chosen']}; sizes: {res['sizes']}; load {res['load']}")
    return "\n".join(lines)


# --- step artifact: the chosen variant's model for sentiment_figures.py ---------------------------------------------


def step_artifact(candidate: str, out: Path) -> None:
    """The file's polarity model with the candidate's refitted anger model, in the committed format (scores exactly
    as the file ``kefu sentiment train`` would write with the variant, if its anger arrays are the same)."""
    from router.sentiment import SentimentAnalyzer

    shipped = SentimentAnalyzer.load(MODEL)
    meta = {**shipped.meta, "anger_negatives": f"bench/sentiment_weights.py candidate {candidate} (refit)"}
    SentimentAnalyzer(
        shipped.polarity_model, load_anger(candidate), polarity_lexicon=shipped.polarity_lexicon, meta=meta
    ).save(out)
    _log(f"wrote {out}")


def main(argv: Sequence[str] | None = None) -> int:
    from router.sentiment import data as sdata

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("step", choices=["fit", "terms", "select", "artifact", "sizes"])
    parser.add_argument("candidate", nargs="?", choices=CANDIDATES)
    parser.add_argument("--datasets", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="select: also write the result here")
    parser.add_argument("--rule", choices=["recall", "precision"], default="recall",
                        help="select: the earlier rule (highest recall under the validation ceiling) or the third "
                        "attempt's (lowest validation rate over the recall floors)")
    parser.add_argument("--out", type=Path, default=None, help="artifact: where to write it")
    args = parser.parse_args(argv)
    datasets = args.datasets or sdata.default_datasets_dir()
    if args.step == "fit":
        step_fit(datasets, args.candidate or parser.error("fit needs a candidate"))
    elif args.step == "terms":
        step_terms(datasets)
    elif args.step == "select":
        if args.rule == "precision":
            res = step_select_precision()
            print(json.dumps(res.get("chosen"), ensure_ascii=False))
        else:
            res = step_select(datasets)
            print(markdown(res))
        if args.json:
            args.json.write_text(json.dumps(res, ensure_ascii=False, indent=1), encoding="utf-8")
    elif args.step == "artifact":
        step_artifact(args.candidate or parser.error("artifact needs a candidate"), args.out)
    elif args.step == "sizes":  # counts of the data of each candidate and of the validation set (no model)
        bq_train, bq_validation = bq_dev_halves(datasets)
        sizes: dict[str, Any] = {"bq_dev_train_half": len(bq_train), "bq_dev_validation_half": len(bq_validation)}
        for c in CANDIDATES:
            ex = anger_examples(datasets, c)
            sizes[c] = {"examples": len(ex), "angry": sum(e.label for e in ex)}
        sizes.update({k: len(v) for k, v in validation_sets(datasets).items()})
        print(json.dumps(sizes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
