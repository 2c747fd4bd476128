"""Out-of-scope decisions of the whole bot (real Rasa server + action server) on the knowledge base's eval sets.

Every query of ``knowledge_base/eval/dev.tsv`` and ``holdout.tsv`` goes to the Rasa REST webhook as the first message
of a new conversation; the bot's reply is classified as

- ``out_of_scope``: one of the ``utter_out_of_scope`` texts of ``bot/domain.yml`` (the bot said "not my job"),
- ``answer`` / ``clarify`` / ``decline``: the FAQ payload the actions sent (``{"kefu": "faq", ...}``),
- ``fallback``: the "please rephrase" fallback (``{"kefu": "fallback"}``),
- ``flow`` (a form asked for an order number ...) or ``other`` (greeting, chit-chat, handoff ...).

An in-scope query (expected FAQ id) that got ``out_of_scope`` was wrongly refused; an ``off_topic`` query that got an
``answer`` was wrongly answered. Started from an already trained model (``var/rasa/models/kefu.tar.gz``, or
``--model``); ``--rasa-url`` uses a running Rasa server instead.

    .venv/bin/python bench/oos_bench.py [--sets dev,holdout] [--json out.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.procs import RASA_MODEL, start_action_server, start_rasa  # noqa: E402

EVAL_DIR = ROOT / "knowledge_base" / "eval"
OFF_TOPIC = "off_topic"


def out_of_scope_texts(domain: Path = ROOT / "bot" / "domain.yml") -> set[str]:
    data = yaml.safe_load(domain.read_text(encoding="utf-8"))
    return {str(v["text"]) for v in data["responses"]["utter_out_of_scope"]}


def classify(messages: list[dict[str, Any]], oos: set[str]) -> tuple[str, str | None, list[str]]:
    """(decision, faq_id, alternatives) of one bot turn."""
    customs = [m["custom"] for m in messages if isinstance(m.get("custom"), dict)]
    faq = next((c for c in customs if c.get("kefu") == "faq"), None)
    if any(m.get("text") in oos for m in messages):
        return "out_of_scope", None, []
    if faq is not None:
        return str(faq["decision"]), faq.get("faq_id"), list(faq.get("alternatives") or [])
    if any(c.get("kefu") == "fallback" for c in customs):
        return "fallback", None, []
    if any("订单号" in str(m.get("text", "")) for m in messages):
        return "flow", None, []
    return "other", None, []


def run_set(rasa_url: str, path: Path, oos: set[str]) -> dict[str, Any]:
    rows = list(csv.DictReader(path.open(encoding="utf-8"), delimiter="\t"))
    in_scope: Counter[str] = Counter()
    off_topic: Counter[str] = Counter()
    correct = 0
    with httpx.Client(timeout=60) as http:
        for row in rows:
            resp = http.post(
                f"{rasa_url}/webhooks/rest/webhook",
                json={"sender": "oos" + uuid.uuid4().hex[:10], "message": row["query"],
                      "metadata": {"customer_id": "bench-oos", "channel": "web"}},
            )
            resp.raise_for_status()
            decision, faq_id, alternatives = classify(resp.json(), oos)
            if row["expected"] == OFF_TOPIC:
                off_topic[decision] += 1
                continue
            in_scope[decision] += 1
            if (decision == "answer" and faq_id == row["expected"]) or (
                decision == "clarify" and row["expected"] in alternatives
            ):
                correct += 1
    n_in, n_off = sum(in_scope.values()), sum(off_topic.values())
    return {
        "set": path.name,
        "in_scope": n_in,
        "in_scope_decisions": dict(in_scope),
        "in_scope_refused_out_of_scope": in_scope["out_of_scope"],
        "in_scope_expected_faq_reached": correct,
        "off_topic": n_off,
        "off_topic_decisions": dict(off_topic),
        "off_topic_wrongly_answered": off_topic["answer"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="dev,holdout")
    parser.add_argument("--model", type=Path, default=RASA_MODEL)
    parser.add_argument("--rasa-url", default=None, help="a running Rasa server (with its action server)")
    parser.add_argument("--orders-db", default=f"sqlite:///{ROOT / 'var' / 'demo' / 'orders.db'}")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    oos = out_of_scope_texts()
    procs = []
    rasa_url = args.rasa_url
    if rasa_url is None:
        log_dir = Path(tempfile.mkdtemp(prefix="oos_bench_"))
        action = start_action_server(log_dir=log_dir, orders_db_url=args.orders_db)
        procs.append(action)
        rasa = start_rasa(log_dir=log_dir, action_url=action.url, model=args.model)
        procs.append(rasa)
        rasa_url = rasa.url
    try:
        results = [run_set(rasa_url, EVAL_DIR / f"{name}.tsv", oos) for name in args.sets.split(",")]
    finally:
        for proc in reversed(procs):
            proc.stop()
    for r in results:
        print(
            f"{r['set']}: in-scope {r['in_scope']}: refused as out of scope {r['in_scope_refused_out_of_scope']}, "
            f"expected FAQ answered or offered {r['in_scope_expected_faq_reached']} {r['in_scope_decisions']}; "
            f"off-topic {r['off_topic']}: wrongly answered {r['off_topic_wrongly_answered']} "
            f"{r['off_topic_decisions']}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
