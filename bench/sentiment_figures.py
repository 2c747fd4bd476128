"""The goal figures of issues 4, 15 and 16 for one sentiment artifact, without peers (a lighter run than
``sentiment_bench.py``, for a busy machine).

Run: ``.venv/bin/python bench/sentiment_figures.py [router/sentiment/model/sentiment.npz] [--json out.json]``

Angry = anger at or above the router's offer threshold (``sentiment_offer_anger``). Prints the flow-message dev set,
the service dev and check sets, the real-traffic proxy (every distinct sentence of AFQMC dev + BQ_corpus test, all
non-angry; the flagged sentences are in the JSON), CLUEmotion2020 test anger F1, held-out online_shopping and
waimai_10k polarity accuracy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from router.sentiment import SentimentAnalyzer  # noqa: E402
from router.sentiment import data as sdata  # noqa: E402
from router.sentiment.evaluate import angry_metrics, read_eval_tsv  # noqa: E402
from router.settings import Settings  # noqa: E402

SETS = ("flow_dev", "dev", "check")


def figures(model: Path, datasets: Path) -> dict[str, Any]:
    offer = Settings().sentiment_offer_anger
    analyzer = SentimentAnalyzer.load(model)
    out: dict[str, Any] = {"model": str(model), "offer_threshold": offer}
    started = time.perf_counter()

    def angry(text: str) -> bool:
        return analyzer.score(text).anger >= offer

    for name in SETS:
        rows = read_eval_tsv(REPO / "router" / "eval" / f"sentiment_{name}.tsv")
        out[name] = angry_metrics([r.angry for r in rows], [angry(r.text) for r in rows])
    proxy = sdata.real_traffic_proxy(datasets)
    flagged = [t for t in proxy if angry(t)]
    out["proxy"] = {"n": len(proxy), "flagged": len(flagged), "rate": round(len(flagged) / len(proxy), 4)}
    out["proxy_flagged_texts"] = flagged
    clue = sdata.cluemotion(datasets, "test")
    pred = np.asarray([angry(e.text) for e in clue])
    gold = np.asarray([e.label == 1 for e in clue])
    out["cluemotion_test_anger_f1"] = round(2 * int((pred & gold).sum()) / int(pred.sum() + gold.sum()), 4)
    _, held_out = sdata.online_shopping(datasets)
    for name, examples in (("online_shopping_heldout_acc", held_out), ("waimai_10k_acc", sdata.waimai(datasets))):
        decisions = analyzer.polarity_decisions([e.text for e in examples])
        gold_pos = np.asarray([e.label for e in examples]) == 1
        out[name] = round(float(np.mean((decisions > 0) == gold_pos)), 4)
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("model", type=Path, nargs="?", default=Settings().sentiment_model_path)
    parser.add_argument("--datasets", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write everything (flagged texts too) here")
    args = parser.parse_args()
    with threadpool_limits(limits=1):
        out = figures(args.model, args.datasets or sdata.default_datasets_dir())
    if args.json:
        args.json.write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
    print(json.dumps({k: v for k, v in out.items() if k != "proxy_flagged_texts"}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
