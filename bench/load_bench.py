"""Bounded load on loopback: N concurrent shoppers and M agents through the real gateway, Rasa and action server.

Every shopper message carries a client id; at the end the database must hold each exactly once, every request must
have been answered, and every message sent while an agent owned the conversation must have reached that agent.

    .venv/bin/python bench/load_bench.py [--shoppers 200] [--agents 20] [--duration 180] [--scale] [--ramp 8]

``--scale`` runs two router replicas on PostgreSQL + Redis (loopback) instead of one on SQLite. Shoppers arrive over
the first ``--ramp`` seconds; ``--ramp 0`` sends every first message in the same instant (a burst). The router's
``Server-Timing`` header splits each reply's time into stages (router/timing.py); the summary gives each stage's p50
and p99, the slowest 1 %'s breakdown and when they were sent, and (``--scale``) the routing-lock waits per 5 s and the
longest wait before the first shopper wrote (the agents' logins). At the end it reads what the Rasa server holds per
conversation (``rasa_held``).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import random
import ssl
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from router.auth import create_user  # noqa: E402
from router.db import make_engine, make_session_factory  # noqa: E402
from router.migrate import upgrade  # noqa: E402
from router.timing import parse as parse_server_timing  # noqa: E402
from shop.settings import DEFAULT_DB as DEMO_ORDERS  # noqa: E402
from tests.e2e.helpers import auth_frame, credentials_env, shop_credentials, shopper_message  # noqa: E402
from tests.procs import RASA_TOKEN, start_action_server, start_rasa, start_router  # noqa: E402

QUESTIONS = [
    "你好",
    "退款多久能到账",
    "运费谁出",
    "怎么开发票",
    "优惠券用不了",
    "几天能到",
    "支持货到付款吗",
    "怎么修改收货地址",
    "积分怎么用",
    "谢谢",
]
PASSWORD = "load-agent-pass"


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    timings: list[tuple[float, float, dict[str, float]]] = field(default_factory=list)  # (sent at, ms, stages)
    sent: dict[str, str] = field(default_factory=dict)  # client_msg_id -> owner at answer time
    errors: Counter[str] = field(default_factory=Counter)
    to_agents: set[str] = field(default_factory=set)  # texts that went to an agent
    agent_received: set[str] = field(default_factory=set)
    handoffs: int = 0
    retries: int = 0
    accepts: list[float] = field(default_factory=list)  # ms per agent accept (a routing decision)
    accept_status: Counter[int] = field(default_factory=Counter)
    lock_wait_max_before_shoppers_ms: list[float] = field(default_factory=list)  # per replica, agents logged in


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def http_client(base: str) -> httpx.AsyncClient:
    """One client (its own connections) per shopper or agent, as on separate devices, sharing one TLS context: each
    client building its own took 52 ms of the bench's CPU, 11 s for 220 clients in the first seconds of a run, during
    which the bench's event loop stalled and the first replies it timed looked seconds slow."""
    return httpx.AsyncClient(base_url=base, timeout=90, verify=_tls_context())


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


async def shopper(
    idx: int, urls: list[str], stop_at: float, stats: Stats, credentials: dict[str, str], ramp_s: float
) -> None:
    rng = random.Random(idx)
    # shoppers arrive over the first ``ramp_s`` seconds, as if the run began while each was reading or typing
    # (``--ramp 0``: all 200 send their first message in the same instant, a burst of first messages)
    await asyncio.sleep(rng.uniform(0, ramp_s))
    customer = f"load-{idx}-{uuid.uuid4().hex[:6]}"
    base = urls[idx % len(urls)]
    wants_human = rng.random() < 0.15
    turn = 0
    last_owner = "bot"
    token = None  # the web token the first signed web message brings back, kept and sent as the widget does
    async with http_client(base) as client:
        while time.monotonic() < stop_at:
            if wants_human and turn == 2:
                text = "转人工"
            else:
                text = rng.choice(QUESTIONS) if turn < 2 or not wants_human else f"我的问题是第{turn}个细节"
            msg_id = f"{customer}-{turn}"
            # the shop signs its web shopper (identity hash) and calls from its app backend with the channel key
            channel = rng.choice(["web", "app"])
            body, headers = shopper_message(credentials, channel, customer, text, client_msg_id=msg_id)
            if channel == "web" and token is not None:
                headers = {**headers, "Authorization": f"Bearer {token}"}
            start = time.perf_counter()
            resp = None
            for _attempt in range(3):  # a dropped keep-alive connection: resend the same client_msg_id, as apps do
                try:
                    resp = await client.post("/api/v1/messages", json=body, headers=headers)
                    break
                except httpx.TransportError:
                    stats.retries += 1
                    await asyncio.sleep(0.5)
            if resp is None:
                stats.errors["transport error after 3 attempts"] += 1
                continue
            stats.latencies.append((time.perf_counter() - start) * 1000)
            stages = parse_server_timing(resp.headers.get("server-timing", ""))
            stats.timings.append((start, stats.latencies[-1], stages))
            if resp.status_code != 200:
                stats.errors[f"HTTP {resp.status_code}"] += 1
            else:
                answer = resp.json()
                owner = answer["owner"]
                token = answer.get("visitor_token") or token
                stats.sent[msg_id] = owner
                # an agent owned the conversation before and after this message: it must reach that agent (the
                # message that asked for a human went to the bot, even when an agent accepted before the reply)
                if owner == "agent" and last_owner == "agent":
                    stats.to_agents.add(text)
                last_owner = owner
                if text == "转人工":
                    stats.handoffs += 1
            turn += 1
            await asyncio.sleep(rng.uniform(3.5, 8.0))  # people read and type (and stay under the rate limit)


async def agent(idx: int, urls: list[str], until: dict[str, float], stats: Stats) -> None:
    base = urls[idx % len(urls)]
    username = f"load-agent-{idx}"
    async with http_client(base) as client:
        token = (await client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})).json()[
            "access_token"
        ]
        auth = {"Authorization": f"Bearer {token}"}
        await client.put("/api/v1/agents/me/status", json={"status": "online", "connection": "api"}, headers=auth)
        replies: Counter[str] = Counter()
        ws_url = base.replace("http://", "ws://") + "/api/v1/agents/ws"
        async with websockets.connect(ws_url) as ws:
            await ws.send(auth_frame(token))  # the first frame authenticates (no token in the URL)
            pinged = time.monotonic()
            while time.monotonic() < until["agents"]:  # agents stay until every shopper request was answered
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=1.0)
                except TimeoutError:
                    if time.monotonic() - pinged > 20.0:  # the console's heartbeat: a silent socket is closed
                        await ws.send(json.dumps({"type": "ping"}))
                        pinged = time.monotonic()
                    continue
                event: dict[str, Any] = json.loads(raw)
                kind = event.get("type")
                if kind == "offer":
                    offer_id = event.get("offer_id") or event.get("offer", {}).get("id")
                    start = time.perf_counter()
                    resp = await client.post(f"/api/v1/agents/offers/{offer_id}/accept", headers=auth)
                    stats.accepts.append((time.perf_counter() - start) * 1000)
                    stats.accept_status[resp.status_code] += 1
                elif kind == "message":
                    conv = event["conversation_id"]
                    stats.agent_received.add(event["message"]["text"])
                    replies[conv] += 1
                    await client.post(
                        f"/api/v1/agents/conversations/{conv}/messages",
                        json={"text": "好的，我来帮您处理"},
                        headers=auth,
                    )
                    if replies[conv] >= 3:
                        await client.post(f"/api/v1/agents/conversations/{conv}/close", json={}, headers=auth)


STAGES = ("lock", "db", "pool", "sentiment", "bot", "app")


def stage_breakdown(stats: Stats) -> dict[str, Any]:
    """Where the time went (the router's ``Server-Timing`` stages): p50/p99 of each stage over all requests, the mean
    of each stage over the requests slower than the p99 (the tail), ``client`` being the time outside the router
    (loopback, the bench's own event loop), and the slowest requests' share per 10 s of the run."""
    if not stats.timings:
        return {}
    cut = pct(stats.latencies, 0.99)
    out: dict[str, Any] = {}
    for name in (*STAGES, "client"):
        values = [_stage(t, name) for t in stats.timings]
        out[f"{name}_p50_ms"] = round(statistics.median(values), 1)
        out[f"{name}_p99_ms"] = round(pct(values, 0.99), 1)
    tail = [t for t in stats.timings if t[1] >= cut]
    out["tail_requests"] = len(tail)
    out["tail_mean_ms"] = {name: round(statistics.fmean(_stage(t, name) for t in tail), 1) for name in
                           ("total", *STAGES, "client")}
    first = min(t[0] for t in stats.timings)
    windows = Counter(int((t[0] - first) // 10) * 10 for t in tail)
    out["tail_by_10s_window"] = {f"{w}s": n for w, n in sorted(windows.items())}
    by_window: dict[int, list[float]] = {}
    for sent, total, _ in stats.timings:
        by_window.setdefault(int((sent - first) // 10) * 10, []).append(total)
    out["by_10s_window"] = {f"{w}s": {"n": len(v), "p50_ms": round(statistics.median(v)), "p99_ms": round(pct(v, 0.99))}
                            for w, v in sorted(by_window.items())}
    return out


def _stage(entry: tuple[float, float, dict[str, float]], name: str) -> float:
    _, total, stages = entry
    if name == "total":
        return total
    if name == "client":
        return max(0.0, total - stages.get("app", 0.0))
    return stages.get(name, 0.0)


def check_database(db_url: str, stats: Stats) -> dict[str, Any]:
    from sqlalchemy import func, select

    from router.conversations.models import Message

    engine = make_engine(db_url)
    with make_session_factory(engine)() as session:
        rows = session.execute(
            select(Message.client_msg_id, func.count())
            .where(Message.client_msg_id.is_not(None))
            .group_by(Message.client_msg_id)
        ).all()
    stored = {cid: n for cid, n in rows}
    missing = [cid for cid in stats.sent if cid not in stored]
    duplicated = [cid for cid, n in stored.items() if n > 1]
    undelivered = sorted(stats.to_agents - stats.agent_received)
    return {
        "answered_requests": len(stats.sent),
        "stored_exactly_once": len(stats.sent) - len(missing) - len([c for c in duplicated if c in stats.sent]),
        "missing": len(missing),
        "duplicated": len(duplicated),
        "agent_owned_messages": len(stats.to_agents),
        "not_delivered_to_agent": len(undelivered),
        "not_delivered_examples": undelivered[:5],
    }


def rasa_trackers(rasa_url: str, db_url: str) -> dict[str, Any]:
    """What the Rasa server holds per conversation at the end of the run (user messages and events per stored
    conversation, how many sit inside a form): its CPU per message grows with what it rereads on every message."""
    from sqlalchemy import select

    from router.conversations.models import Conversation

    engine = make_engine(db_url)
    with make_session_factory(engine)() as session:
        ids = [str(c) for c in session.execute(select(Conversation.id)).scalars()]
    users, events, in_form, loops = [], [], 0, Counter[str]()
    with httpx.Client(base_url=rasa_url, timeout=30) as client:
        for conv_id in ids:
            params = {"token": RASA_TOKEN, "include_events": "ALL"}
            resp = client.get(f"/conversations/{conv_id}/tracker", params=params)
            if resp.status_code != 200:
                continue
            tracker = resp.json()
            stored = tracker.get("events") or []
            users.append(sum(1 for e in stored if e.get("event") == "user"))
            events.append(len(stored))
            loop = (tracker.get("active_loop") or {}).get("name")
            if loop:
                in_form += 1
                loops[loop] += 1
    return {
        "conversations": len(users),
        "user_messages_p50": pct(users, 0.5), "user_messages_max": max(users, default=0),
        "events_p50": pct(events, 0.5), "events_p99": pct(events, 0.99), "events_max": max(events, default=0),
        "in_a_form": in_form, "forms": dict(loops),
    }


async def sample_cluster(urls: list[str], every_s: float, samples: list[dict[str, Any]]) -> None:
    """Each replica's routing-lock counters every ``every_s`` (``/healthz``), to see when lock waits happen."""
    start = time.monotonic()
    async with httpx.AsyncClient(timeout=30) as client:
        while True:
            await asyncio.sleep(every_s)
            row: dict[str, Any] = {"t": round(time.monotonic() - start, 1)}
            for i, url in enumerate(urls):
                try:
                    row[f"r{i}"] = (await client.get(f"{url}/healthz")).json().get("cluster")
                except (httpx.HTTPError, ValueError):
                    row[f"r{i}"] = None
            samples.append(row)


def lock_waits_by_window(samples: list[dict[str, Any]], replicas: int) -> list[dict[str, Any]]:
    """Per sampling window and replica: decisions, their mean lock wait, and the largest wait of the run so far."""
    out = []
    for before, after in zip(samples, samples[1:], strict=False):
        row: dict[str, Any] = {"t": after["t"]}
        for i in range(replicas):
            a, b = before.get(f"r{i}"), after.get(f"r{i}")
            if not a or not b:
                continue
            n = b["decisions"] - a["decisions"]
            wait = b["lock_wait_total_s"] - a["lock_wait_total_s"]
            row[f"r{i}"] = {
                "decisions": n,
                "mean_wait_ms": round(1000 * wait / n, 1) if n else 0.0,
                "max_so_far_ms": round(1000 * b["lock_wait_max_s"], 1),
            }
        out.append(row)
    return out


async def run_load(
    urls: list[str], shoppers: int, agents: int, duration: float, credentials: dict[str, str], ramp_s: float,
    samples: list[dict[str, Any]],
) -> Stats:
    stats = Stats()
    until = {"agents": float("inf")}
    agent_tasks = [asyncio.create_task(agent(i, urls, until, stats)) for i in range(agents)]
    # routing-lock counters exist with several replicas only
    sampler = asyncio.create_task(sample_cluster(urls, 5.0, samples)) if len(urls) > 1 else None
    await asyncio.sleep(2)
    if len(urls) > 1:  # the agents are online, no shopper has written yet: the waits of their logins
        async with httpx.AsyncClient(timeout=30) as client:
            for url in urls:
                cluster = (await client.get(f"{url}/healthz")).json().get("cluster") or {}
                stats.lock_wait_max_before_shoppers_ms.append(round(1000 * cluster.get("lock_wait_max_s", 0.0), 1))
    stop_at = time.monotonic() + duration
    await asyncio.gather(*(shopper(i, urls, stop_at, stats, credentials, ramp_s) for i in range(shoppers)))
    until["agents"] = time.monotonic() + 10  # pushes still in flight reach the agents
    await asyncio.gather(*agent_tasks)
    if sampler is not None:
        sampler.cancel()
    return stats


def shared_rasa_endpoints(tmp: Path, action_url: str, database: str, prefix: str, trackers: str) -> Path:
    """Rasa's endpoints with shared stores, so several Rasa processes serve the same conversations: locks in Redis,
    trackers in PostgreSQL as in docker-compose (bot/endpoints.docker.yml) or in Redis."""
    if trackers == "sql":
        store = f'  type: SQL\n  dialect: postgresql\n  url: 127.0.0.1\n  port: 5432\n  db: "{database}"\n'
        store += "  username: postgres\n"
    else:
        store = f'  type: redis\n  url: 127.0.0.1\n  port: 6379\n  db: 0\n  key_prefix: "{prefix}"\n'
    path = tmp / "endpoints-shared.yml"
    path.write_text(
        f'action_endpoint:\n  url: "{action_url}/webhook"\ntracker_store:\n{store}'
        f'lock_store:\n  type: redis\n  url: 127.0.0.1\n  port: 6379\n  db: 0\n  key_prefix: "{prefix}"\n',
        encoding="utf-8",
    )
    return path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shoppers", type=int, default=200)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--duration", type=float, default=180)
    parser.add_argument("--scale", action="store_true", help="two replicas on PostgreSQL + Redis")
    parser.add_argument(
        "--rasa-workers", type=int, default=1,
        help="Rasa server processes (SANIC_WORKERS); above 1 (needs --scale) Rasa keeps its trackers in the run's "
        "PostgreSQL database and its conversation locks in Redis, as docker-compose does",
    )
    parser.add_argument(
        "--rasa-trackers", choices=("sql", "redis"), default="sql",
        help="with --rasa-workers above 1: Rasa's shared tracker store (sql: PostgreSQL as docker-compose; redis)",
    )
    parser.add_argument(
        "--ramp", type=float, default=8.0,
        help="shoppers arrive uniformly over this many seconds (0: all at once, a burst of first messages)",
    )
    args = parser.parse_args()
    if args.rasa_workers > 1 and not args.scale:
        parser.error("--rasa-workers above 1 needs --scale (the shared tracker and lock stores)")
    orders_db = DEMO_ORDERS
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        pg_name = None
        if args.scale:
            import psycopg

            pg_name = "kefu_load_" + uuid.uuid4().hex[:8]
            with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{pg_name}"')
            db_url = f"postgresql://postgres@127.0.0.1:5432/{pg_name}"
        else:
            db_url = f"sqlite:///{tmp / 'load.db'}"
        upgrade(db_url)
        sessions = make_session_factory(make_engine(db_url))
        for i in range(args.agents):
            create_user(
                sessions, username=f"load-agent-{i}", password=PASSWORD, skills={"general": 4, "after_sales": 3}
            )
        credentials = shop_credentials(db_url)
        actions = start_action_server(log_dir=tmp, orders_db_url=f"sqlite:///{orders_db}")
        rasa_env, endpoints = {}, None
        if args.rasa_workers > 1:
            prefix = "load" + (pg_name or "").rsplit("_", 1)[-1]  # Rasa takes an alphanumeric key prefix only
            endpoints = shared_rasa_endpoints(tmp, actions.url, pg_name or "", prefix, args.rasa_trackers)
            rasa_env = {"SANIC_WORKERS": str(args.rasa_workers)}
        rasa = start_rasa(log_dir=tmp, action_url=actions.url, endpoints=endpoints, env=rasa_env)
        env = {
            "KEFU_ROUTER_DATABASE_URL": db_url,
            "KEFU_ROUTER_RASA_URL": rasa.url,
            "KEFU_ROUTER_RASA_TOKEN": RASA_TOKEN,
            "KEFU_ROUTER_RASA_TIMEOUT_S": "60",
            "KEFU_ACTIONS_ORDERS_DB_URL": f"sqlite:///{orders_db}",
            **credentials_env(credentials),
        }
        if args.scale:
            env |= {
                "KEFU_ROUTER_REDIS_URL": "redis://127.0.0.1:6379/0",
                "KEFU_ROUTER_REDIS_NAMESPACE": f"load-{pg_name}",
            }
        routers = [start_router(log_dir=tmp, env=env, name=f"router-{i}") for i in range(2 if args.scale else 1)]
        try:
            start = time.monotonic()
            samples: list[dict[str, Any]] = []
            stats = asyncio.run(
                run_load([r.url for r in routers], args.shoppers, args.agents, args.duration, credentials, args.ramp,
                         samples)
            )
            wall = time.monotonic() - start
            checks = check_database(db_url, stats)
            # each replica's routing-lock and change-log counters (absent with one router)
            cluster = [httpx.get(f"{r.url}/healthz", timeout=30).json().get("cluster") for r in routers]
            held = rasa_trackers(rasa.url, db_url)
        finally:
            for proc in (*routers, rasa, actions):
                proc.stop()
            if pg_name:
                import psycopg

                with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
    summary = {
        "setup": "2 replicas, PostgreSQL + Redis" if args.scale else "1 router, SQLite",
        "shoppers": args.shoppers,
        "agents": args.agents,
        "duration_s": args.duration,
        "ramp_s": args.ramp,
        "rasa_workers": args.rasa_workers,
        "rasa_trackers": args.rasa_trackers if args.rasa_workers > 1 else "memory",
        "requests": len(stats.latencies),
        "throughput_rps": round(len(stats.latencies) / wall, 1),
        "p50_ms": round(statistics.median(stats.latencies), 1) if stats.latencies else None,
        "p99_ms": round(pct(stats.latencies, 0.99), 1),
        "handoffs": stats.handoffs,
        "accepts": len(stats.accepts),
        "accept_p50_ms": round(statistics.median(stats.accepts), 1) if stats.accepts else None,
        "accept_max_ms": round(max(stats.accepts), 1) if stats.accepts else None,
        "accept_status": dict(stats.accept_status),
        "errors": dict(stats.errors),
        "retried_requests": stats.retries,
        **checks,
        "stages": stage_breakdown(stats),
        "rasa_held": held,
    }
    if args.scale:
        summary["replicas"] = cluster
        summary["lock_waits_by_5s"] = lock_waits_by_window(samples, len(routers))
        summary["lock_wait_max_before_shoppers_ms"] = stats.lock_wait_max_before_shoppers_ms
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    ok = checks["missing"] == 0 and checks["duplicated"] == 0 and checks["not_delivered_to_agent"] == 0
    return 0 if ok and not stats.errors else 1


if __name__ == "__main__":
    sys.exit(main())
