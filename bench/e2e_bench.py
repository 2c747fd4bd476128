"""Reply latency through the gateway next to the Rasa REST channel alone, at N concurrent shoppers.

Starts the real action server, Rasa server and router (gateway) on loopback, then runs the same shopper script against
(a) Rasa's REST webhook directly and (b) the gateway's ``POST /api/v1/messages`` (which adds persistence,
sentiment and routing). Both paths see the same texts and the same kind of customer (a new one, who owns none of the
orders asked about), so the bot does the same work on both.

Two ways of being "N concurrent shoppers": back to back (each shopper sends its next message the moment the reply
arrives: a saturation test of the whole chain), and at human pace (each shopper reads and types for ``--think``
seconds, drawn uniformly, between messages: N conversations open at once, as in a shop).

    .venv/bin/python bench/e2e_bench.py [--shoppers 20] [--turns 10] [--think 3,8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from router.migrate import upgrade  # noqa: E402
from shop.settings import DEFAULT_DB as DEMO_ORDERS  # noqa: E402
from tests.procs import RASA_TOKEN, start_action_server, start_rasa, start_router  # noqa: E402

# what shoppers type: FAQs, order questions (with and without a number), chit-chat
SCRIPT = [
    "你好",
    "退款多久能到账",
    "优惠券怎么用不了",
    "帮我查下订单{order}",
    "运费险怎么理赔",
    "可以开发票吗",
    "谢谢",
    "发错货了怎么办",
    "几天能到货",
    "会员有什么权益",
]


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def shopper(
    client: httpx.AsyncClient,
    mode: str,
    idx: int,
    turns: int,
    orders: list[str],
    out: list[float],
    think: tuple[float, float] = (0.0, 0.0),
) -> None:
    order_id = orders[idx % len(orders)]
    rng = random.Random(idx)
    sender = f"bench-{mode}-{idx}-{random.randrange(1 << 30)}"  # a new conversation on every run
    if think[1] > 0:
        await asyncio.sleep(rng.uniform(0, think[1]))  # shoppers arrive spread out, not in one burst
    headers: dict[str, str] = {}  # the gateway's web shopper: anonymous first, then the visitor token it got back
    for turn in range(turns):
        if turn and think[1] > 0:
            await asyncio.sleep(rng.uniform(*think))
        text = SCRIPT[(idx + turn) % len(SCRIPT)].format(order=order_id)
        start = time.perf_counter()
        if mode == "rasa":
            # what the gateway sends along (channel, customer, sentiment), so both paths run the same actions
            metadata = {
                "channel": "web",
                "customer_id": sender,
                "conversation_id": sender,
                "sentiment": {"label": "neutral", "score": 0.0},
            }
            resp = await client.post(
                "/webhooks/rest/webhook", json={"sender": sender, "message": text, "metadata": metadata}
            )
        else:
            resp = await client.post("/api/v1/messages", json={"channel": "web", "text": text}, headers=headers)
        resp.raise_for_status()
        if mode != "rasa" and not headers:
            headers = {"Authorization": f"Bearer {resp.json()['visitor_token']}"}
        out.append((time.perf_counter() - start) * 1000)


async def run_mode(
    base_url: str,
    mode: str,
    shoppers: int,
    turns: int,
    orders: list[str],
    think: tuple[float, float] = (0.0, 0.0),
) -> dict[str, Any]:
    samples: list[float] = []
    limits = httpx.Limits(max_connections=shoppers, max_keepalive_connections=shoppers)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
        # warm-up: load models and caches on every path
        await shopper(client, mode, 10_000, len(SCRIPT), orders, [])
        start = time.perf_counter()
        await asyncio.gather(*(shopper(client, mode, i, turns, orders, samples, think) for i in range(shoppers)))
        wall = time.perf_counter() - start
    return {
        "mode": mode,
        "pace": f"think {think[0]:g}-{think[1]:g} s" if think[1] > 0 else "back to back",
        "requests": len(samples),
        "p50_ms": round(statistics.median(samples), 1),
        "p99_ms": round(pct(samples, 0.99), 1),
        "mean_ms": round(statistics.fmean(samples), 1),
        "throughput_rps": round(len(samples) / wall, 1),
    }


def demo_orders(db: Path) -> list[str]:
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from shop.demo_store import OrderRow

    engine = create_engine(f"sqlite:///{db}")
    with Session(engine) as session:
        return list(session.scalars(select(OrderRow.id).limit(50)).all())


def parse_think(value: str) -> tuple[float, float]:
    low, _, high = value.partition(",")
    think = (float(low), float(high or low))
    if not 0 <= think[0] <= think[1]:
        raise argparse.ArgumentTypeError("--think wants MIN,MAX seconds with 0 <= MIN <= MAX")
    return think


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shoppers", type=int, default=20)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument(
        "--think", type=parse_think, default=(3.0, 8.0), help="MIN,MAX seconds between a shopper's messages"
    )
    args = parser.parse_args()
    orders_db = DEMO_ORDERS
    if not orders_db.exists():
        print("run `make setup` first (demo orders, trained model, index)", file=sys.stderr)
        return 2
    orders = demo_orders(orders_db)
    load_before = os.getloadavg()[0]
    rows: list[tuple[int, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        actions = start_action_server(log_dir=tmp, orders_db_url=f"sqlite:///{orders_db}")
        rasa = start_rasa(log_dir=tmp, action_url=actions.url)
        db_url = f"sqlite:///{tmp / 'bench.db'}"
        upgrade(db_url)
        router = start_router(
            log_dir=tmp,
            env={
                "KEFU_ROUTER_DATABASE_URL": db_url,
                "KEFU_ROUTER_RASA_URL": rasa.url,
                "KEFU_ROUTER_RASA_TOKEN": RASA_TOKEN,
                "KEFU_ACTIONS_ORDERS_DB_URL": f"sqlite:///{orders_db}",
            },
        )
        try:
            for n, turns, think in [
                (1, len(SCRIPT), (0.0, 0.0)),
                (args.shoppers, args.turns, (0.0, 0.0)),
                (args.shoppers, args.turns, args.think),
            ]:
                for mode, url in [("rasa", rasa.url), ("gateway", router.url)]:
                    rows.append((n, asyncio.run(run_mode(url, mode, n, turns, orders, think))))
        finally:
            router.stop()
            rasa.stop()
            actions.stop()

    def pair(i: int) -> dict[str, Any]:
        r, g = rows[2 * i][1], rows[2 * i + 1][1]
        return {
            "shoppers": rows[2 * i][0],
            "pace": r["pace"],
            "rasa_rest_alone": r,
            "through_gateway": g,
            "gateway_overhead_p50_ms": round(g["p50_ms"] - r["p50_ms"], 1),
            "ratio_p50": round(g["p50_ms"] / r["p50_ms"], 2),
            "ratio_p99": round(g["p99_ms"] / r["p99_ms"], 2),
        }

    summary = {
        "load_average_1m_at_start": round(load_before, 2),
        "one_shopper": pair(0),
        "back_to_back": pair(1),
        "human_pace": pair(2),
        "goal_p50_le_80_p99_le_300_at_human_pace": rows[5][1]["p50_ms"] <= 80 and rows[5][1]["p99_ms"] <= 300,
    }
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    print(
        "\n| shoppers | pace | path | requests | p50 ms | p99 ms | mean ms | req/s |\n|---|---|---|---|---|---|---|---|"
    )
    for n, r in rows:
        path = "Rasa REST channel alone (with actions)" if r["mode"] == "rasa" else "through the gateway"
        cells = [n, r["pace"], path, r["requests"], r["p50_ms"], r["p99_ms"], r["mean_ms"], r["throughput_rps"]]
        print("| " + " | ".join(str(c) for c in cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
