"""Runs inside .venv-rasa (rasa 3.6): parse every query of a TSV with a trained NLU model and print JSON lines.

Usage: .venv-rasa/bin/python bench/kb/rasa_rs_eval.py MODEL.tar.gz QUERIES.txt  (one query per line)
Each output line: {"query", "intent", "intent_conf", "faq", "faq_conf", "ms"}.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time


async def main(model: str, queries_file: str) -> None:
    from rasa.core.agent import Agent

    agent = Agent.load(model)
    queries = [q for q in open(queries_file, encoding="utf-8").read().splitlines() if q.strip()]
    await agent.parse_message("预热")  # first call builds graphs
    for q in queries:
        t0 = time.perf_counter()
        r = await agent.parse_message(q)
        ms = (time.perf_counter() - t0) * 1000
        sel = (r.get("response_selector") or {}).get("faq") or {}
        resp = sel.get("response") or {}
        key = resp.get("intent_response_key") or ""
        out = {"query": q, "intent": r["intent"]["name"], "intent_conf": r["intent"]["confidence"],
               "faq": key.split("/", 1)[1] if "/" in key else None, "faq_conf": resp.get("confidence", 0.0), "ms": ms}
        print(json.dumps(out, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    logging.disable(logging.WARNING)
    asyncio.run(main(sys.argv[1], sys.argv[2]))
