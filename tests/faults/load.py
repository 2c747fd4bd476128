"""A small seeded load for the fault suite: shoppers and agents through the real replicas, recorded for the checks.

Shoppers behave like the apps: every message has a ``client_msg_id``; a request that fails (connection refused,
5xx, 409) is sent again with the same id, to the other replica if its own is down (a load balancer would), until it
is *accepted* (HTTP 200).  Agents keep a WebSocket open, accept offers, answer messages and close after three; when
their socket drops they reconnect and, as the console does, read their conversations' transcripts (and so on a
``resync`` event, which a replica sends when its Redis subscription was interrupted).
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets

from tests.e2e.helpers import auth_frame, shopper_message

QUESTIONS = ["你好", "退款多久能到账", "运费谁出", "怎么开发票", "几天能到", "怎么修改收货地址"]
RETRYABLE = {409, 429, 500, 502, 503, 504}


@dataclass
class Record:
    accepted: dict[tuple[str, str], int] = field(default_factory=dict)  # (customer, client_msg_id) -> message id
    to_agent: dict[str, str] = field(default_factory=dict)  # text -> conversation, sent while an agent owned it
    agent_received: set[str] = field(default_factory=set)
    customers: set[str] = field(default_factory=set)
    resent: int = 0
    gave_up: list[str] = field(default_factory=list)
    accepts: int = 0
    agent_reconnects: int = 0


class Load:
    """Runs shoppers and agents on an event loop of its own (a thread) until :meth:`stop`."""

    def __init__(
        self, urls: list[str], agents: list[tuple[str, str]], *, shoppers: int, seed: int, tag: str,
        credentials: dict[str, str],
    ) -> None:
        self.urls = urls
        self.credentials = credentials  # shoppers call as the shop signs them in (web) or vouches (app key)
        self.agents = agents  # (username, password)
        self.shoppers = shoppers
        self.seed = seed
        self.tag = tag
        self.record = Record()
        self.agent_sockets: dict[str, Any] = {}
        self._stop = threading.Event()
        self._agents_stop = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=f"load-{tag}", daemon=True)

    # ------------------------------------------------------------------ control
    def start(self) -> Load:
        self._thread.start()
        return self

    def stop(self, drain_s: float = 8.0) -> Record:
        """Stop the shoppers (each finishes its request in flight), give pushes ``drain_s`` to arrive, stop agents."""
        self._stop.set()
        time.sleep(drain_s)
        self._agents_stop.set()
        self._thread.join(120)
        assert not self._thread.is_alive(), "the load did not stop"
        return self.record

    def wait_agents_online(self, timeout_s: float = 90.0) -> None:
        """Until every agent has its WebSocket open (logging in is slow on a loaded machine)."""
        deadline = time.monotonic() + timeout_s
        while len(self.agent_sockets) < len(self.agents):
            assert time.monotonic() < deadline, f"agents not connected: {sorted(self.agent_sockets)}"
            time.sleep(0.2)

    def drop_agent_socket(self, username: str) -> None:
        """Close an agent's WebSocket abruptly (the agent reconnects by itself)."""
        ws = self.agent_sockets[username]
        self._loop.call_soon_threadsafe(lambda: ws.transport.abort())

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        agents = [asyncio.create_task(self._agent(i, u, p)) for i, (u, p) in enumerate(self.agents)]
        await asyncio.sleep(1.0)
        await asyncio.gather(*(self._shopper(i) for i in range(self.shoppers)))
        await asyncio.gather(*agents)

    # ------------------------------------------------------------------ shoppers
    async def _post(
        self, client: httpx.AsyncClient, first: int, path: str, body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> httpx.Response | None:
        deadline = time.monotonic() + 60.0
        attempt = 0
        while time.monotonic() < deadline:
            url = self.urls[(first + attempt) % len(self.urls)]
            attempt += 1
            try:
                resp = await client.post(url + path, json=body, headers=headers)
            except httpx.TransportError:
                resp = None
            if resp is not None and resp.status_code not in RETRYABLE:
                return resp
            self.record.resent += 1
            await asyncio.sleep(min(2.0, 0.25 * attempt))
        return None

    async def _shopper(self, idx: int) -> None:
        rng = random.Random(self.seed * 1000 + idx)
        customer = f"f-{self.tag}-{idx}"
        self.record.customers.add(customer)
        wants_human = rng.random() < 0.5
        last_owner = "bot"
        turn = 0
        async with httpx.AsyncClient(timeout=30) as client:
            while not self._stop.is_set():
                text = "转人工" if wants_human and turn == 1 else f"{rng.choice(QUESTIONS)} ({customer} 第{turn}句)"
                msg_id = f"{customer}-{turn}"
                body, headers = shopper_message(
                    self.credentials, rng.choice(["web", "app"]), customer, text, client_msg_id=msg_id
                )
                resp = await self._post(client, idx, "/api/v1/messages", body, headers)
                if resp is None or resp.status_code != 200:
                    self.record.gave_up.append(f"{msg_id}: {None if resp is None else resp.status_code}")
                else:
                    data = resp.json()
                    self.record.accepted[(customer, msg_id)] = int(data["message_id"])
                    if data["owner"] == "agent" and last_owner == "agent":
                        self.record.to_agent[text] = data["conversation_id"]
                    last_owner = data["owner"]
                turn += 1
                await asyncio.sleep(rng.uniform(0.8, 2.0))

    # ------------------------------------------------------------------ agents
    async def _agent(self, idx: int, username: str, password: str) -> None:
        replies: dict[str, int] = defaultdict(int)
        attempt = 0
        async with httpx.AsyncClient(timeout=30) as client:
            while not self._agents_stop.is_set():
                base = self.urls[(idx + attempt) % len(self.urls)]  # after a failure, the next replica
                try:
                    await self._agent_session(client, base, username, password, replies, attempt == 0)
                except (OSError, httpx.HTTPError, websockets.WebSocketException, KeyError, ValueError):
                    pass
                if self._agents_stop.is_set():
                    await self._end_shift(client, base, username, password)
                    return
                attempt += 1
                self.record.agent_reconnects += 1
                await asyncio.sleep(1.0)

    async def _agent_session(
        self, client: httpx.AsyncClient, base: str, username: str, password: str, replies: dict[str, int],
        first: bool,
    ) -> None:
        login = await client.post(f"{base}/api/v1/auth/login", json={"username": username, "password": password})
        token = login.json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        await client.put(
            f"{base}/api/v1/agents/me/status", json={"status": "online", "connection": "api"}, headers=auth
        )
        ws_url = base.replace("http://", "ws://") + "/api/v1/agents/ws"
        async with websockets.connect(ws_url, open_timeout=10) as ws:
            await ws.send(auth_frame(token))  # the first frame authenticates
            pinged = time.monotonic()
            self.agent_sockets[username] = ws
            if not first:  # the console reloads what it holds after a reconnect
                await self._catch_up(client, base, auth)
            while not self._agents_stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=0.5)
                except TimeoutError:
                    if time.monotonic() - pinged > 20.0:  # the console's heartbeat: a silent socket is closed
                        await ws.send(json.dumps({"type": "ping"}))
                        pinged = time.monotonic()
                    continue
                event: dict[str, Any] = json.loads(raw)
                kind = event.get("type")
                if kind == "resync":  # pushes were lost (the replica's Redis was away): re-read, as the console does
                    await self._catch_up(client, base, auth)
                    continue
                offers = event.get("offers") if kind == "hello" else [event] if kind == "offer" else []
                for offer in offers or []:
                    offer_id = offer.get("offer_id") or offer.get("id") or offer.get("offer", {}).get("id")
                    resp = await client.post(f"{base}/api/v1/agents/offers/{offer_id}/accept", headers=auth)
                    self.record.accepts += resp.status_code == 200
                if kind == "message":
                    conv = event["conversation_id"]
                    self.record.agent_received.add(event["message"]["text"])
                    replies[conv] += 1
                    await client.post(f"{base}/api/v1/agents/conversations/{conv}/messages",
                                      json={"text": "好的，我来帮您处理"}, headers=auth)
                    if replies[conv] >= 3:
                        await client.post(f"{base}/api/v1/agents/conversations/{conv}/close", json={}, headers=auth)

    async def _end_shift(self, client: httpx.AsyncClient, base: str, username: str, password: str) -> None:
        """Close what the agent still holds and go offline, so the next test's offers find free capacity (without
        this every test after the first ran with both agents at capacity: no offer accepted, nothing to check)."""
        try:
            login = await client.post(f"{base}/api/v1/auth/login", json={"username": username, "password": password})
            auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
            held = await client.get(f"{base}/api/v1/agents/me/conversations", headers=auth)
            for conv in held.json():
                await client.post(f"{base}/api/v1/agents/conversations/{conv['conversation_id']}/close", json={},
                                  headers=auth)
            await client.put(f"{base}/api/v1/agents/me/status", json={"status": "offline"}, headers=auth)
        except (OSError, httpx.HTTPError, KeyError, ValueError):
            pass  # a replica still down: the checks below say what that left behind

    async def _catch_up(self, client: httpx.AsyncClient, base: str, auth: dict[str, str]) -> None:
        held = await client.get(f"{base}/api/v1/agents/me/conversations", headers=auth)
        for conv in held.json():
            context = await client.get(f"{base}/api/v1/agents/conversations/{conv['conversation_id']}/context",
                                       headers=auth)
            if context.status_code == 200:
                for m in context.json()["transcript"]:
                    if m["direction"] == "in":
                        self.record.agent_received.add(m["text"])
