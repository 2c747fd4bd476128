"""The scale-out checks of the docker-compose topology, driven through nginx like shops and agents reach it.

scripts/compose_check.sh runs this inside the kefu-app image on the compose network, after every service is healthy
and a content editor and an agent were created with ``kefu user add``. Each check prints one line; the exit code is
0 only when all passed:

1. nginx balances over both router replicas (``X-Kefu-Upstream``, set by deploy/nginx.conf, names the one that
   answered; the checks use it to put the shopper and the agent on different replicas);
2. an anonymous web shopper gets a ``visitor_token`` and the bot's FAQ answer, and reads the history with it;
3. an FAQ edit saved and published through one replica is answered by the bot behind the other, and that replica's
   own knowledge base ("try a question") has it too;
4. a hand-off: the shopper's socket on one replica, the agent's console socket on the other; the offer, the agent's
   greeting and messages both ways cross between them (Redis pub/sub);
5. ``docker kill`` of the shopper's replica mid-conversation: the shopper keeps sending (each message with its
   ``client_msg_id``, re-sent on a failed request), reconnects its socket and gets the agent's reply through the
   survivor; every message reached the agent once, the history holds each once (and the database too), and the
   killed replica, started again, reads the same history.

Environment: ``KEFU_PROXY`` (nginx), ``KEFU_REPLICAS`` (the replicas' compose service names), ``KEFU_CHECK_AGENT``,
``KEFU_CHECK_EDITOR`` and ``KEFU_CHECK_PASSWORD`` (the accounts compose_check.sh made), ``KEFU_CHECK_DB`` (the
routers' PostgreSQL, for the stored-once check), ``KEFU_COMPOSE_PROJECT`` and the Docker socket at
``KEFU_DOCKER_SOCKET`` (to kill and restart a replica). Standard library plus what the app image has (httpx,
websockets, psycopg).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import sys
import time
import traceback
import urllib.parse
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

PROXY = os.environ.get("KEFU_PROXY", "http://proxy:80")
REPLICAS = os.environ.get("KEFU_REPLICAS", "router-a,router-b").split(",")
AGENT = os.environ.get("KEFU_CHECK_AGENT", "zhao")
EDITOR = os.environ.get("KEFU_CHECK_EDITOR", "editor")
PASSWORD = os.environ.get("KEFU_CHECK_PASSWORD", "")
DB_URL = os.environ.get("KEFU_CHECK_DB", "postgresql://kefu:kefu@postgres:5432/kefu")
PROJECT = os.environ.get("KEFU_COMPOSE_PROJECT", "kefucheck")
DOCKER_SOCKET = os.environ.get("KEFU_DOCKER_SOCKET", "/var/run/docker.sock")
FAQ = "/api/v1/admin/faq"
REFUND_QUESTION = "退款多久能到账"
EDIT_DEADLINE_S = float(os.environ.get("KEFU_CHECK_EDIT_DEADLINE_S", "15"))
RETRYABLE = {502, 503, 504}


class CheckFailed(AssertionError):
    pass


def expect(condition: object, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


# ---------------------------------------------------------------------------------------------- which replica
_addresses: dict[str, str] = {}  # IP address -> compose service name of each router replica


def replica_addresses() -> dict[str, str]:
    """Where each replica is, as nginx may still have it: a killed one keeps its last known address (Docker's DNS no
    longer answers for it), a restarted one may have a new one."""
    for name in REPLICAS:
        try:
            _addresses[socket.gethostbyname(name)] = name
        except socket.gaierror:
            pass
    return _addresses


def replica_of(headers: Any) -> str:
    """The replica that answered, from nginx's ``X-Kefu-Upstream`` (the last address tried, after a fail-over)."""
    upstream = headers.get("X-Kefu-Upstream") or ""
    expect(upstream, f"nginx sent no X-Kefu-Upstream header ({dict(headers)})")
    address = upstream.split(",")[-1].strip().rsplit(":", 1)[0]
    return replica_addresses().get(address, address)


# ---------------------------------------------------------------------------------------------- Docker Engine API
class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("docker", timeout=60)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(60)
        sock.connect(self.path)
        self.sock = sock


def docker(method: str, path: str) -> Any:
    conn = _UnixConnection(DOCKER_SOCKET)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    expect(resp.status < 300 or resp.status == 304, f"docker {method} {path}: {resp.status} {body[:200]!r}")
    return json.loads(body) if body else None


def container_id(service: str) -> str:
    labels = [f"com.docker.compose.project={PROJECT}", f"com.docker.compose.service={service}"]
    query = urllib.parse.quote(json.dumps({"label": labels}))
    found = docker("GET", f"/containers/json?all=1&filters={query}")
    expect(len(found) == 1, f"expected one container of {PROJECT}/{service}, found {len(found)}")
    return str(found[0]["Id"])


def health(cid: str) -> str:
    state = docker("GET", f"/containers/{cid}/json")["State"]
    return str(state["Health"]["Status"] if state.get("Health") else state["Status"])


# ---------------------------------------------------------------------------------------------- HTTP through nginx
http_client = httpx.Client(base_url=PROXY, timeout=60)


def request(method: str, path: str, *, deadline_s: float = 60, **kwargs: Any) -> httpx.Response:
    """One call through nginx; a request refused on the way (connection error, 502/503/504: a replica going away) is
    sent again, as the widget and the shops' backends do. Messages carry a client_msg_id, so a repeat is stored once."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            resp = http_client.request(method, path, **kwargs)
            if resp.status_code not in RETRYABLE:
                return resp
            problem = f"{resp.status_code} {resp.text[:200]}"
        except httpx.TransportError as exc:
            problem = repr(exc)
        expect(time.monotonic() < deadline, f"{method} {path}: still failing after {deadline_s:.0f} s: {problem}")
        time.sleep(0.5)


def login(username: str) -> dict[str, str]:
    resp = request("POST", "/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    expect(resp.status_code == 200, f"login {username}: {resp.status_code} {resp.text[:200]}")
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


class Shopper:
    """An anonymous web shopper, as the widget behaves: the first message returns a visitor_token, kept after."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.token: str | None = None
        self.customer_id: str | None = None
        self.sent: list[str] = []  # client_msg_id of every message accepted

    def say(self, text: str, *, msg_id: str | None = None) -> tuple[dict[str, Any], str]:
        """The gateway's answer and the replica that gave it."""
        msg_id = msg_id or f"{self.label}-{len(self.sent) + 1}-{uuid.uuid4().hex[:6]}"
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        body = {"channel": "web", "text": text, "client_msg_id": msg_id}
        resp = request("POST", "/api/v1/messages", json=body, headers=headers)
        expect(resp.status_code == 200, f"message {text!r}: {resp.status_code} {resp.text[:300]}")
        answer: dict[str, Any] = resp.json()
        if answer.get("visitor_token"):
            self.token = answer["visitor_token"]
        self.customer_id = answer["customer_id"]
        self.sent.append(msg_id)
        return answer, replica_of(resp.headers)

    def auth(self) -> dict[str, str]:
        expect(self.token, "the shopper has no visitor_token yet")
        return {"Authorization": f"Bearer {self.token}"}


def replies(answer: dict[str, Any]) -> str:
    return "\n".join(r.get("text") or "" for r in answer.get("replies", []))


# ---------------------------------------------------------------------------------------------- sockets through nginx
class Socket:
    """A WebSocket through nginx on a known replica, keeping every event it received."""

    def __init__(self, ws: ClientConnection, replica: str, token: str) -> None:
        self.ws = ws
        self.replica = replica
        self.events: list[dict[str, Any]] = []
        self.pinged = time.monotonic()
        ws.send(json.dumps({"type": "auth", "token": token}))  # the first frame authenticates (never the URL)

    def until(self, what: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 40) -> dict[str, Any]:
        """The first event (received before or now) for which ``predicate`` holds."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for event in self.events[seen:]:
                if predicate(event):
                    return event
            seen = len(self.events)
            remaining = deadline - time.monotonic()
            expect(remaining > 0, f"no {what} within {timeout:.0f} s on {self.replica} (got {self.events[-5:]})")
            if time.monotonic() - self.pinged > 20:  # the console's heartbeat (a silent socket is closed)
                self.ws.send(json.dumps({"type": "ping"}))
                self.pinged = time.monotonic()
            try:
                self.events.append(json.loads(self.ws.recv(timeout=min(remaining, 5.0))))
            except TimeoutError:
                continue

    def send(self, frame: dict[str, Any]) -> None:
        self.ws.send(json.dumps(frame, ensure_ascii=False))
        self.pinged = time.monotonic()

    def close(self) -> None:
        self.ws.close()


def open_socket(path: str, token: str, *, avoid: str | None = None, attempts: int = 12) -> Socket:
    """A socket through nginx; with ``avoid``, reconnect until nginx puts it on another replica."""
    url = PROXY.replace("http://", "ws://") + path
    for _ in range(attempts):
        try:
            ws = connect(url, open_timeout=15)
        except (OSError, TimeoutError, ConnectionClosed) as exc:  # a replica going away: nginx tries the next
            print(f"  (socket to {path} refused: {exc!r}; again)")
            time.sleep(1)
            continue
        replica = replica_of(ws.response.headers) if ws.response is not None else "?"
        if replica != avoid:
            return Socket(ws, replica, token)
        ws.close()
    raise CheckFailed(f"nginx never put {path} on a replica other than {avoid} in {attempts} tries")


# ---------------------------------------------------------------------------------------------- the checks
def check_balancing() -> str:
    served: dict[str, int] = {}
    for _ in range(8):
        resp = request("GET", "/healthz")
        expect(resp.status_code == 200 and resp.json()["status"] == "ok", f"/healthz: {resp.status_code} {resp.text}")
        served[replica_of(resp.headers)] = served.get(replica_of(resp.headers), 0) + 1
    expect(set(served) == set(REPLICAS), f"nginx should use both replicas {REPLICAS}: {served}")
    return f"/healthz through nginx answered by {served}"


def faq_answer(editor: dict[str, str], entry: str) -> str:
    resp = request("GET", f"{FAQ}/entries/{entry}", headers=editor)
    expect(resp.status_code == 200, f"FAQ entry {entry}: {resp.status_code} {resp.text[:200]}")
    return str(resp.json()["answer"])


def check_faq(editor: dict[str, str]) -> str:
    expected = faq_answer(editor, "refund_time")
    shopper = Shopper("faq")
    t0 = time.monotonic()
    answer, replica = shopper.say(REFUND_QUESTION)
    took = time.monotonic() - t0
    expect(shopper.token and shopper.customer_id, f"an anonymous visitor gets a visitor_token: {answer}")
    expect(answer["owner"] == "bot", f"the bot answers a FAQ: {answer}")
    expect(expected in replies(answer), f"expected the refund_time answer {expected!r}, got {replies(answer)!r}")
    again, again_on = shopper.say("运费谁出")  # a returning visitor: its token, whichever replica
    expect(again["customer_id"] == shopper.customer_id and not again.get("visitor_token"), f"same visitor: {again}")
    history = request("GET", f"/api/v1/conversations/{answer['conversation_id']}/history", headers=shopper.auth())
    expect(history.status_code == 200, f"history: {history.status_code} {history.text[:200]}")
    asked = [m["text"] for m in history.json() if m["direction"] == "in"]
    expect(asked == [REFUND_QUESTION, "运费谁出"], f"the visitor's history: {asked}")
    return f"anonymous visitor answered from the FAQ by the bot in {took:.1f} s (via {replica}, then {again_on})"


def check_faq_edit(editor: dict[str, str]) -> str:
    before = request("GET", f"{FAQ}/entries/refund_time", headers=editor).json()
    new_answer = f"您好，退款审核通过后 1-3 个工作日原路退回（{uuid.uuid4().hex[:6]}），请留意账户变动。"
    edited = {k: before[k] for k in ("category", "question", "paraphrases", "answer", "tags")}
    t0 = time.monotonic()
    saved = request(
        "PUT",
        f"{FAQ}/entries/refund_time",
        headers=editor,
        json={**edited, "answer": new_answer, "version": before["version"]},
    )
    expect(saved.status_code == 200, f"save: {saved.status_code} {saved.text[:300]}")
    published = request("POST", f"{FAQ}/publish", headers=editor)
    expect(published.status_code == 200 and published.json().get("in_sync"), f"publish: {published.text[:300]}")
    on = replica_of(published.headers)
    other = next(r for r in REPLICAS if r != on)

    def answered_behind_other() -> bool:
        answer, replica = Shopper("edit").say(REFUND_QUESTION)  # a new visitor each time (fresh conversation)
        return replica == other and new_answer in replies(answer)

    bot_s = within(EDIT_DEADLINE_S, answered_behind_other, f"the bot behind {other} answering the edit")

    def other_knows() -> bool:
        resp = request("POST", f"{FAQ}/try", json={"question": REFUND_QUESTION}, headers=editor)
        top: list[dict[str, Any]] = resp.json().get("top") or [] if resp.status_code == 200 else []
        return replica_of(resp.headers) == other and bool(top) and top[0]["answer"] == new_answer

    kb_s = within(EDIT_DEADLINE_S, other_knows, f"{other}'s own knowledge base serving the edit")
    return (
        f"FAQ edit saved and published on {on}: the bot behind {other} answers it {bot_s:.1f} s after publish, "
        f"{other}'s own index serves it after {kb_s:.1f} s (total {time.monotonic() - t0:.1f} s)"
    )


def within(deadline_s: float, check: Callable[[], bool], what: str) -> float:
    t0 = time.monotonic()
    while not check():
        expect(time.monotonic() - t0 < deadline_s, f"not within {deadline_s:.0f} s: {what}")
        time.sleep(0.5)
    return time.monotonic() - t0


class Conversation:
    """The state shared by the hand-off and the kill checks."""

    def __init__(
        self,
        shopper: Shopper,
        agent_auth: dict[str, str],
        agent_ws: Socket,
        shopper_ws: Socket,
        conversation_id: str,
        texts: list[str],
    ) -> None:
        self.shopper = shopper
        self.agent_auth = agent_auth
        self.agent_ws = agent_ws
        self.shopper_ws = shopper_ws
        self.conversation_id = conversation_id
        self.texts = texts  # the shopper's messages, in order


def check_handoff(agent_auth: dict[str, str], agent_token: str) -> tuple[str, Conversation]:
    agent_ws = open_socket("/api/v1/agents/ws", agent_token)
    hello = agent_ws.until("hello", lambda e: e.get("type") == "hello")
    # online with the console socket as her connection (presence in Redis: any replica may route to her)
    status = request("PUT", "/api/v1/agents/me/status", json={"status": "online"}, headers=agent_auth)
    expect(status.status_code == 200 and status.json()["status"] == "online", f"status: {status.text[:300]}")
    shopper = Shopper("handoff")
    first, _ = shopper.say("你好")
    expect(shopper.token, "a visitor_token")
    shopper_ws = open_socket("/api/v1/channels/web/ws", str(shopper.token), avoid=agent_ws.replica)
    shopper_ws.until("ready", lambda e: e.get("type") == "ready")
    # the hand-off is asked on the shopper's socket, so the shopper's replica decides it
    shopper_ws.send({"text": "转人工", "client_msg_id": f"handoff-{uuid.uuid4().hex[:8]}"})
    ack = shopper_ws.until("ack of 转人工", lambda e: e.get("type") == "ack")
    conv = str(ack["conversation_id"])
    expect(ack["owner"] in {"queue", "agent"}, f"转人工 goes to the queue: {ack}")
    offer = agent_ws.until("offer", lambda e: e.get("type") == "offer" and e.get("conversation_id") == conv)
    offer_id = offer.get("offer_id") or offer["offer"]["id"]
    agent_ws.send({"type": "accept", "offer_id": offer_id})  # accepted on the agent's own replica
    agent_ws.until("accepted", lambda e: e.get("type") == "accepted" and e.get("offer_id") == offer_id)
    joined = shopper_ws.until("the agent's greeting", lambda e: e.get("type") == "reply" and e.get("owner") == "agent")
    shopper_ws.send({"text": "我想改一下收货地址", "client_msg_id": f"handoff-{uuid.uuid4().hex[:8]}"})
    agent_ws.until("the shopper's message", message_event(conv, "我想改一下收货地址"))
    agent_ws.send({"type": "message", "conversation_id": conv, "text": "好的，请提供新地址"})
    shopper_ws.until(
        "the agent's reply",
        lambda e: (
            e.get("type") == "reply" and e["reply"]["sender"] == "agent" and e["reply"]["text"] == "好的，请提供新地址"
        ),
    )
    line = (
        f"hand-off: shopper's socket on {shopper_ws.replica}, agent {hello['agent_id']}'s console on "
        f"{agent_ws.replica}; offer, greeting ({joined['reply']['text'][:24]}…) and messages both ways crossed"
    )
    return line, Conversation(shopper, agent_auth, agent_ws, shopper_ws, conv, ["你好", "转人工", "我想改一下收货地址"])


def message_event(conversation_id: str, text: str) -> Callable[[dict[str, Any]], bool]:
    """Matches the push of the shopper's message ``text`` to the agent."""

    def matches(event: dict[str, Any]) -> bool:
        return (
            event.get("type") == "message"
            and event.get("conversation_id") == conversation_id
            and event["message"]["text"] == text
        )

    return matches


def check_kill(conv: Conversation) -> str:
    victim = conv.shopper_ws.replica
    survivor = conv.agent_ws.replica
    cid = container_id(victim)
    before = [f"杀之前第{i}句：订单号 A{i}0{i}" for i in (1, 2)]
    after = [f"杀之后第{i}句：还在吗" for i in (1, 2, 3, 4)]
    for text in before:
        answer, _ = conv.shopper.say(text)
        expect(answer["owner"] == "agent" and answer["conversation_id"] == conv.conversation_id, f"{answer}")
    docker("POST", f"/containers/{cid}/kill")
    killed_at = time.monotonic()
    failover = []
    for text in after:  # mid-conversation: nginx still has the dead replica in its list
        t0 = time.monotonic()
        answer, replica = conv.shopper.say(text)
        failover.append(time.monotonic() - t0)
        expect(answer["owner"] == "agent" and answer["conversation_id"] == conv.conversation_id, f"{answer}")
        expect(replica == survivor, f"{text!r} answered by {replica} after {victim} was killed")
    conv.texts += before + after
    # every message reached the agent's console, once
    for text in before + after:
        conv.agent_ws.until(f"message {text!r}", message_event(conv.conversation_id, text))
    pushed = [e["message"]["text"] for e in conv.agent_ws.events if e.get("type") == "message"]
    twice = sorted({t for t in pushed if pushed.count(t) > 1})
    expect(not twice, f"messages pushed to the agent twice: {twice}")
    # the shopper's socket died with its replica; the widget reconnects (nginx: the survivor) and gets the reply
    dropped = False
    try:
        conv.shopper_ws.until("the socket closing", lambda e: False, timeout=10)
    except ConnectionClosed:
        dropped = True
    except CheckFailed:
        pass
    expect(dropped, f"the shopper's socket on killed {victim} should have closed")
    shopper_ws = open_socket("/api/v1/channels/web/ws", str(conv.shopper.token))
    shopper_ws.until("ready", lambda e: e.get("type") == "ready")
    conv.agent_ws.send({"type": "message", "conversation_id": conv.conversation_id, "text": "收到，已为您处理"})
    shopper_ws.until(
        "the agent's reply after the kill",
        lambda e: (
            e.get("type") == "reply" and e["reply"]["sender"] == "agent" and e["reply"]["text"] == "收到，已为您处理"
        ),
    )
    conv.shopper_ws = shopper_ws
    # the history through nginx and the database: each message once, in order
    history = request("GET", f"/api/v1/conversations/{conv.conversation_id}/history", headers=conv.shopper.auth())
    expect(history.status_code == 200, f"history: {history.status_code} {history.text[:200]}")
    inbound = [m["text"] for m in history.json() if m["direction"] == "in"]
    expect(inbound == conv.texts, f"the shopper's history {inbound} != what was sent {conv.texts}")
    with psycopg.connect(DB_URL, connect_timeout=10) as db:
        rows = db.execute(
            "SELECT client_msg_id, count(*) FROM messages WHERE customer_id = %s "
            "AND client_msg_id IS NOT NULL GROUP BY client_msg_id",
            (conv.shopper.customer_id,),
        ).fetchall()
    stored: dict[str, int] = dict(rows)
    expect(all(stored.get(m) == 1 for m in conv.shopper.sent), f"each message stored once: {stored}")
    # the killed replica comes back (restart policy, else started as an operator would) and reads the same
    how = "by its restart policy"
    if health(cid) not in {"starting", "healthy", "running"}:
        docker("POST", f"/containers/{cid}/start")
        how = "by docker start"
    within(180, lambda: health(cid) == "healthy", f"{victim} healthy again")
    direct = httpx.get(
        f"http://{victim}:8000/api/v1/conversations/{conv.conversation_id}/history",
        headers=conv.shopper.auth(),
        timeout=30,
    )
    expect(direct.status_code == 200, f"history on restarted {victim}: {direct.status_code} {direct.text[:200]}")
    expect([m["text"] for m in direct.json() if m["direction"] == "in"] == conv.texts, "restarted replica's history")

    def nginx_uses_it_again() -> bool:  # nginx resolved the names at its start: the restarted replica kept its address
        return replica_of(request("GET", "/healthz").headers) == victim

    within(30, nginx_uses_it_again, f"nginx sending requests to the restarted {victim} again")
    closed = request(
        "POST", f"/api/v1/agents/conversations/{conv.conversation_id}/close", json={}, headers=conv.agent_auth
    )
    expect(closed.status_code == 200, f"close: {closed.status_code} {closed.text[:200]}")
    shopper_ws.until("the survey", lambda e: e.get("type") == "survey")
    return (
        f"docker kill {victim} mid-conversation: {len(after)} messages after the kill answered by {survivor} "
        f"(slowest {max(failover):.1f} s), all {len(conv.texts)} delivered and stored once, shopper reconnected, "
        f"{victim} back ({how}), healthy and served by nginx {time.monotonic() - killed_at:.0f} s after the kill, "
        f"reading the same history"
    )


def main() -> int:
    expect(PASSWORD, "KEFU_CHECK_PASSWORD is not set")
    results: list[tuple[str, bool, str]] = []

    def run(name: str, check: Callable[[], str]) -> bool:
        t0 = time.monotonic()
        try:
            line = check()
        except Exception as exc:  # every failure is reported with its check, then the run fails
            detail = str(exc) if isinstance(exc, CheckFailed) else traceback.format_exc(limit=3)
            results.append((name, False, detail))
            print(f"[check] FAIL {name} ({time.monotonic() - t0:.1f} s): {detail}", flush=True)
            return False
        results.append((name, True, line))
        print(f"[check] ok   {name} ({time.monotonic() - t0:.1f} s): {line}", flush=True)
        return True

    run("nginx balances both replicas", check_balancing)
    editor = login(EDITOR)
    run("a shopper's FAQ answer", lambda: check_faq(editor))
    run("an FAQ edit published on one replica, answered behind the other", lambda: check_faq_edit(editor))
    agent_auth = login(AGENT)
    state: dict[str, Conversation] = {}

    def handoff() -> str:
        line, state["conv"] = check_handoff(agent_auth, agent_auth["Authorization"].removeprefix("Bearer "))
        return line

    if run("a hand-off taken by an agent on the other replica", handoff):
        run("docker kill of the shopper's replica mid-conversation, nothing lost", lambda: check_kill(state["conv"]))
    else:
        results.append(("docker kill of a replica mid-conversation", False, "not run: the hand-off failed"))
    for conv in state.values():
        for ws in (conv.agent_ws, conv.shopper_ws):
            try:
                ws.close()
            except Exception:  # noqa: S110 (a socket of a killed replica is closed already)
                pass
    failed = [name for name, ok, _ in results if not ok]
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
