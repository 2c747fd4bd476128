"""Two gateway replicas on PostgreSQL + Redis (loopback): shopper on replica A, agent on replica B.

Also: Rasa with its tracker store in PostgreSQL and its lock store in Redis, kill -9 of a replica mid-offer, and a
database that drops its connections for a moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from router.auth import create_user
from router.db import make_engine, make_session_factory
from router.migrate import upgrade
from tests.e2e.helpers import credentials_env, shop_credentials, signed
from tests.e2e.test_gateway import AGENT_PASSWORD, Shop, recv_until
from tests.procs import RASA_TOKEN, ROOT, Proc, free_port, start_rasa, start_router

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.pg]
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    name = "kefu_scale_" + uuid.uuid4().hex[:8]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _env(db_url: str, rasa_url: str, orders_db: str, namespace: str) -> dict[str, str]:
    return {
        "KEFU_ROUTER_DATABASE_URL": db_url,
        "KEFU_ROUTER_REDIS_URL": "redis://127.0.0.1:6379/0",
        "KEFU_ROUTER_REDIS_NAMESPACE": namespace,
        "KEFU_ROUTER_RASA_URL": rasa_url,
        "KEFU_ROUTER_RASA_TOKEN": RASA_TOKEN,
        "KEFU_ROUTER_RASA_TIMEOUT_S": "20",
        "KEFU_ACTIONS_ORDERS_DB_URL": orders_db,
        "KEFU_ROUTER_OFFER_TIMEOUT_S": "8",
    }


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, pg_url: str, rasa_server: Proc, orders_db: str
) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("scale")
    upgrade(pg_url)
    sessions = make_session_factory(make_engine(pg_url))
    create_user(sessions, username="zhao", password=AGENT_PASSWORD, display_name="小赵", skills={"general": 5})
    credentials = shop_credentials(pg_url)
    namespace = "kefu-test-" + uuid.uuid4().hex[:8]
    env = {**_env(pg_url, rasa_server.url, orders_db, namespace), **credentials_env(credentials)}
    a = start_router(log_dir=tmp, env=env, name="replica-a")
    b = start_router(log_dir=tmp, env=env, name="replica-b")
    state: dict[str, Any] = {
        "a": Shop(a, pg_url, credentials), "b": Shop(b, pg_url, credentials), "env": env, "tmp": tmp,
        "credentials": credentials,
    }
    yield state
    for shop in (state["a"], state["b"]):
        shop.proc.stop()


def test_shopper_on_a_agent_on_b(replicas: dict[str, Any]) -> None:
    a: Shop = replicas["a"]
    b: Shop = replicas["b"]
    token = b.login("zhao")
    auth = {"Authorization": f"Bearer {token}"}
    assert b.http.put(
        "/api/v1/agents/me/status", json={"status": "online", "connection": "api"}, headers=auth
    ).status_code == 200
    cust = "c-scale-" + uuid.uuid4().hex[:6]
    with (
        b.socket("/api/v1/agents/ws", token) as agent_ws,
        a.socket("/api/v1/channels/web/ws", a.shopper_token(cust)) as shopper_ws,
    ):
        recv_until(agent_ws, lambda e: e.get("type") == "hello")
        recv_until(shopper_ws, lambda e: e.get("type") == "ready")
        handoff = a.say(cust, "转人工")
        conv_id = handoff["conversation_id"]
        assert handoff["owner"] in {"queue", "agent"}, handoff
        offer = recv_until(agent_ws, lambda e: e.get("type") == "offer" and e.get("conversation_id") == conv_id)
        offer_id = offer.get("offer_id") or offer["offer"]["id"]

        # the offer is claimed once only, whichever replica the two accepts reach
        results: list[int] = []

        def accept(shop: Shop) -> None:
            results.append(shop.http.post(f"/api/v1/agents/offers/{offer_id}/accept", headers=auth).status_code)

        threads = [threading.Thread(target=accept, args=(s,)) for s in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results)[0] == 200 and sorted(results)[1] in {404, 409}, results

        joined = recv_until(shopper_ws, lambda e: e.get("type") == "reply" and e["owner"] == "agent")
        assert "小赵" in joined["reply"]["text"]
        body = a.say(cust, "我想改一下收货地址")
        assert body["owner"] == "agent" and body["replies"] == []
        got = recv_until(agent_ws, lambda e: e.get("type") == "message" and e.get("conversation_id") == conv_id)
        assert got["message"]["text"] == "我想改一下收货地址"
        sent = b.http.post(
            f"/api/v1/agents/conversations/{conv_id}/messages", json={"text": "好的，请提供新地址"}, headers=auth
        )
        assert sent.status_code == 200, sent.text
        reply = recv_until(shopper_ws, lambda e: e.get("type") == "reply" and e["reply"]["sender"] == "agent")
        assert reply["reply"]["text"] == "好的，请提供新地址"
        closed = a.http.post(f"/api/v1/agents/conversations/{conv_id}/close", json={}, headers=auth)
        assert closed.status_code == 200, closed.text
        recv_until(shopper_ws, lambda e: e.get("type") == "survey")


def test_kill9_replica_mid_offer_then_restart(replicas: dict[str, Any]) -> None:
    a: Shop = replicas["a"]
    b: Shop = replicas["b"]
    token = b.login("zhao")
    auth = {"Authorization": f"Bearer {token}"}
    b.http.put("/api/v1/agents/me/status", json={"status": "online", "connection": "api"}, headers=auth)
    cust = "c-kill-" + uuid.uuid4().hex[:6]
    with b.socket("/api/v1/agents/ws", token) as agent_ws:
        recv_until(agent_ws, lambda e: e.get("type") == "hello")
        first = a.say(cust, "你们这什么破服务！！！我要投诉，骗子")
        conv_id = first["conversation_id"]
        offer = recv_until(agent_ws, lambda e: e.get("type") == "offer" and e.get("conversation_id") == conv_id)
        offer_id = offer.get("offer_id") or offer["offer"]["id"]
        a.proc.kill9()  # replica A dies while the offer is pending
        # the offer survives on B and completes correctly there
        accepted = b.http.post(f"/api/v1/agents/offers/{offer_id}/accept", headers=auth)
        assert accepted.status_code == 200, accepted.text
        msg = b.say(cust, "你们到底管不管")
        assert msg["owner"] == "agent"
    restarted = start_router(log_dir=replicas["tmp"], env=replicas["env"], name="replica-a2")
    try:
        replicas["a"] = Shop(restarted, a.db_url, a.credentials)
        mine = {"Authorization": f"Bearer {replicas['a'].shopper_token(cust)}"}
        history = httpx.get(
            f"{restarted.url}/api/v1/conversations/{conv_id}/history", headers=mine, timeout=30
        ).json()
        texts = [m["text"] for m in history if m["direction"] == "in"]
        assert texts == ["你们这什么破服务！！！我要投诉，骗子", "你们到底管不管"]  # nothing lost
        close = httpx.post(
            f"{restarted.url}/api/v1/agents/conversations/{conv_id}/close", json={}, headers=auth, timeout=30
        )
        assert close.status_code == 200, close.text
    finally:
        a.proc.stop()


def test_offer_times_out_when_the_agent_does_not_answer(replicas: dict[str, Any]) -> None:
    b: Shop = replicas["b"]
    token = b.login("zhao")
    auth = {"Authorization": f"Bearer {token}"}
    b.http.put("/api/v1/agents/me/status", json={"status": "online", "connection": "api"}, headers=auth)
    with b.socket("/api/v1/agents/ws", token) as agent_ws:
        recv_until(agent_ws, lambda e: e.get("type") == "hello")
        body = replicas["a"].say("c-timeout-" + uuid.uuid4().hex[:6], "转人工")
        conv_id = body["conversation_id"]
        recv_until(agent_ws, lambda e: e.get("type") == "offer" and e.get("conversation_id") == conv_id)
        timed_out = recv_until(
            agent_ws, lambda e: e.get("type") == "offer_timed_out" and e.get("conversation_id") == conv_id, timeout=40
        )
        assert timed_out["conversation_id"] == conv_id
    b.http.put("/api/v1/agents/me/status", json={"status": "offline"}, headers=auth)


class FlakyProxy:
    """A TCP proxy to PostgreSQL that can cut every connection for a while (a database fail-over, seen from the app)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.up = threading.Event()
        self.up.set()
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.1)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.close()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if not self.up.is_set():
                writer.close()
                return
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            self._writers.update({writer, up_writer})
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

        async def main() -> None:
            server = await asyncio.start_server(handle, "127.0.0.1", self.port)
            async with server:
                await server.serve_forever()

        self._loop.run_until_complete(main())

    def cut(self) -> None:
        self.up.clear()

        def close_all() -> None:
            for w in list(self._writers):
                w.close()
            self._writers.clear()

        self._loop.call_soon_threadsafe(close_all)

    def restore(self) -> None:
        self.up.set()


def test_database_briefly_unavailable(replicas: dict[str, Any], pg_url: str) -> None:
    proxy = FlakyProxy(("127.0.0.1", 5432))
    via_proxy = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    env = {**replicas["env"], "KEFU_ROUTER_DATABASE_URL": via_proxy}
    proc = start_router(log_dir=replicas["tmp"], env=env, name="replica-flaky")
    try:
        shop = Shop(proc, pg_url, replicas["credentials"])
        cust = "c-flaky-" + uuid.uuid4().hex[:6]
        assert shop.say(cust, "你好")["owner"] == "bot"
        proxy.cut()
        threading.Timer(1.5, proxy.restore).start()  # back before the gateway's retries run out
        resp = shop.http.post(
            "/api/v1/messages",
            json={"channel": "web", **signed(shop.credentials, cust), "text": "在吗", "client_msg_id": "m-flaky-1"},
        )
        assert resp.status_code in {200, 503}, resp.text
        if resp.status_code == 503:  # the client retries with the same id: stored exactly once
            time.sleep(2)
            resp = shop.http.post(
                "/api/v1/messages",
                json={"channel": "web", **signed(shop.credentials, cust), "text": "在吗", "client_msg_id": "m-flaky-1"},
            )
            assert resp.status_code == 200, resp.text
        assert proc.popen.poll() is None, "the replica must not crash"
        with psycopg.connect(pg_url) as conn:
            count = conn.execute(
                "SELECT count(*) FROM messages WHERE customer_id = %s AND client_msg_id = 'm-flaky-1'", (cust,)
            ).fetchone()
        assert count is not None and count[0] == 1
    finally:
        proc.stop()


def test_rasa_on_postgres_tracker_and_redis_lock_store(
    tmp_path_factory: pytest.TempPathFactory, pg_url: str, action_server: Proc
) -> None:
    tmp = tmp_path_factory.mktemp("rasa-pg")
    env = {
        "KEFU_ACTION_ENDPOINT": f"{action_server.url}/webhook",
        "KEFU_RASA_DB_HOST": "127.0.0.1",
        "KEFU_RASA_DB_NAME": pg_url.rsplit("/", 1)[1],
        "KEFU_RASA_DB_USER": "postgres",
        "KEFU_RASA_REDIS_HOST": "127.0.0.1",
    }
    rasa = start_rasa(
        log_dir=tmp, action_url=action_server.url, endpoints=ROOT / "bot" / "endpoints.scale.yml", env=env
    )
    try:
        sender = "pg-" + uuid.uuid4().hex[:8]
        resp = httpx.post(f"{rasa.url}/webhooks/rest/webhook", json={"sender": sender, "message": "你好"}, timeout=60)
        assert resp.status_code == 200 and resp.json(), resp.text
        with psycopg.connect(pg_url) as conn:
            row = conn.execute("SELECT count(*) FROM events WHERE sender_id = %s", (sender,)).fetchone()
        assert row is not None and row[0] > 0, "Rasa must keep its tracker in PostgreSQL"
        tracker = httpx.get(
            f"{rasa.url}/conversations/{sender}/tracker", params={"token": RASA_TOKEN}, timeout=30
        ).json()
        assert json.dumps(tracker["events"], ensure_ascii=False).count("你好") >= 1
    finally:
        rasa.stop()
