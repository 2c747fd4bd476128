"""An app shopper receives what the agent sends at the shop's callback, with the real stack: Rasa, action server,
router process, and a signature-verifying callback server on loopback (issue #20)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from router.auth import create_user
from router.db import make_engine, make_session_factory
from router.migrate import upgrade
from tests.e2e.helpers import credentials_env, shop_credentials
from tests.e2e.test_gateway import AGENT_PASSWORD, Shop, _router_env, recv_until
from tests.procs import Proc, free_port, start_router
from tests.router.outbound.callback_server import CallbackServer, Receiver

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
DOWN_S = 60.0


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, rasa_server: Proc, orders_db: str) -> Iterator[Shop]:
    tmp = tmp_path_factory.mktemp("outbound")
    db_url = f"sqlite:///{tmp / 'outbound.db'}"
    upgrade(db_url)
    sessions = make_session_factory(make_engine(db_url))
    create_user(sessions, username="wang", display_name="小王", password=AGENT_PASSWORD, skills={"general": 5})
    create_user(sessions, username="root", display_name="管理员", password=AGENT_PASSWORD, role="admin")
    credentials = shop_credentials(db_url)
    env = {
        **_router_env(db_url, rasa_server.url, orders_db),
        **credentials_env(credentials),
        # back-off bounded so a 60 s outage is caught up within seconds of the receiver coming back
        "KEFU_ROUTER_OUTBOUND_BACKOFF_BASE_S": "0.5",
        "KEFU_ROUTER_OUTBOUND_BACKOFF_MAX_S": "4",
        "KEFU_ROUTER_OUTBOUND_MAX_ATTEMPTS": "100",
        "KEFU_ROUTER_OUTBOUND_POLL_S": "0.2",
        "KEFU_ROUTER_OUTBOUND_QUEUE_INTERVAL_S": "0.5",
    }
    proc = start_router(log_dir=tmp, env=env, name="router-outbound")
    yield Shop(proc, db_url, credentials)
    proc.stop()


@pytest.fixture(scope="module")
def callback(shop: Shop) -> Iterator[CallbackServer]:
    receiver = Receiver()
    server = CallbackServer(receiver, free_port()).start()
    admin = {"Authorization": f"Bearer {shop.login('root')}"}
    registered = shop.http.put("/api/v1/admin/outbound/endpoints/app", json={"url": server.url}, headers=admin)
    assert registered.status_code == 200, registered.text
    receiver.secret = registered.json()["secret"]
    listed = shop.http.get("/api/v1/admin/outbound/endpoints", headers=admin).json()
    assert listed[0]["url"] == server.url and "secret" not in listed[0]  # shown once, never again
    yield server
    server.stop()


def app_say(shop: Shop, user: str, text: str) -> dict[str, Any]:
    resp = shop.http.post("/api/v1/channels/app/messages", json={"user_id": user, "text": text},
                          headers={"X-Kefu-Channel-Key": shop.credentials["app"]})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def wait_for(predicate: Any, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} not reached within {timeout:.0f} s"
        time.sleep(0.2)


def events_of(receiver: Receiver, conv_id: str) -> list[dict[str, Any]]:
    return [b for b in receiver.bodies() if b["conversation_id"] == conv_id]


def accept(shop: Shop, agent_ws: Any, auth: dict[str, str], conv_id: str, offer: dict[str, Any]) -> None:
    offer_id = offer.get("offer_id") or offer["offer"]["id"]
    accepted = shop.http.post(f"/api/v1/agents/offers/{offer_id}/accept", headers=auth)
    assert accepted.status_code == 200, accepted.text


def test_escalated_app_shopper_gets_queue_agent_reply_and_survey_at_the_callback(
    shop: Shop, callback: CallbackServer
) -> None:
    receiver = callback.receiver
    token = shop.login("wang")
    auth = {"Authorization": f"Bearer {token}"}
    assert shop.http.put(
        "/api/v1/agents/me/status", json={"status": "online", "connection": "api"}, headers=auth
    ).status_code == 200
    user = "app-" + uuid.uuid4().hex[:8]
    with shop.socket("/api/v1/agents/ws", token) as agent_ws:
        recv_until(agent_ws, lambda e: e.get("type") == "hello")
        handoff = app_say(shop, user, "转人工")
        conv_id = handoff["conversation_id"]
        assert handoff["owner"] == "queue", handoff
        offer = recv_until(agent_ws, lambda e: e.get("type") == "offer" and e.get("conversation_id") == conv_id)
        # while the offer is out the shopper waits in the queue: the callback hears the place and the ETA
        wait_for(lambda: any(e["event"] == "queue_update" for e in events_of(receiver, conv_id)), what="queue update")
        accept(shop, agent_ws, auth, conv_id, offer)
        sent = shop.http.post(
            f"/api/v1/agents/conversations/{conv_id}/messages", json={"text": "您好，我来帮您查一下"}, headers=auth
        )
        assert sent.status_code == 200, sent.text
        message_id = sent.json()["id"]
        delivery = recv_until(
            agent_ws, lambda e: e.get("type") == "delivery" and e.get("message_id") == message_id, timeout=30
        )
        assert delivery["status"] == "delivered", delivery
        closed = shop.http.post(f"/api/v1/agents/conversations/{conv_id}/close", json={}, headers=auth)
        assert closed.status_code == 200, closed.text
    wait_for(lambda: any(e["event"] == "conversation_closed" for e in events_of(receiver, conv_id)), what="close")

    got = events_of(receiver, conv_id)
    assert all(d.verified for d in receiver.deliveries), [d.reason for d in receiver.deliveries]
    order = [e["event"] for e in got if e["event"] != "queue_update"]
    assert order == ["agent_joined", "agent_message", "agent_left", "survey", "conversation_closed"], order
    queue = next(e for e in got if e["event"] == "queue_update")
    assert queue["data"]["position"] == 1 and "eta_s" in queue["data"]
    assert got.index(queue) < [e["event"] for e in got].index("agent_joined")
    by_event = {e["event"]: e for e in got}
    assert by_event["agent_message"]["message"]["text"] == "您好，我来帮您查一下"
    assert by_event["agent_message"]["customer_id"] == user and by_event["agent_message"]["channel"] == "app"
    assert "小王" in by_event["agent_joined"]["message"]["text"]
    assert "1-5" in by_event["survey"]["message"]["text"] and by_event["survey"]["data"]["rating_max"] == 5
    statuses = shop.http.get(f"/api/v1/agents/conversations/{conv_id}/deliveries", headers=auth).json()
    assert {"message_id": message_id, "status": "delivered"}.items() <= next(
        s for s in statuses if s["message_id"] == message_id
    ).items()
    # the synchronous replies (the bot's answer to "转人工") were not sent again through the callback
    sync_ids = {r["id"] for r in handoff["replies"]}
    assert not sync_ids & {e.get("message", {}).get("id") for e in got}
    # polling fallback: the same messages, after a given id
    page = shop.http.get(f"/api/v1/conversations/{conv_id}/messages", params={"after": message_id - 1},
                         headers={"X-Kefu-Channel-Key": shop.credentials["app"]}).json()
    assert page["messages"][0]["id"] == message_id and page["state"]["status"] == "closed"
    # Server-Sent Events: the same messages as a stream, resumable after Last-Event-ID
    assert sse_ids(shop, conv_id, after=message_id - 1)[0] == message_id
    assert sse_ids(shop, conv_id, last_event_id=message_id)[0] > message_id


def sse_ids(shop: Shop, conv_id: str, *, after: int = 0, last_event_id: int | None = None) -> list[int]:
    """The message ids an SSE stream sends before its first state event."""
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    headers["X-Kefu-Channel-Key"] = shop.credentials["app"]
    ids: list[int] = []
    url = f"{shop.url}/api/v1/conversations/{conv_id}/events"
    with httpx.stream("GET", url, params={"after": after}, headers=headers, timeout=30) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith("id: "):
                ids.append(int(line[4:]))
            if line == "event: state":
                break
    return ids


def test_callback_down_for_a_minute_then_every_message_arrives_once_in_order(
    shop: Shop, callback: CallbackServer, tmp_path: Path
) -> None:
    receiver = callback.receiver
    token = shop.login("wang")
    auth = {"Authorization": f"Bearer {token}"}
    assert shop.http.put(
        "/api/v1/agents/me/status", json={"status": "online", "connection": "api"}, headers=auth
    ).status_code == 200
    users = ["down-" + uuid.uuid4().hex[:8] for _ in range(2)]
    convs: list[str] = []
    with shop.socket("/api/v1/agents/ws", token) as agent_ws:
        recv_until(agent_ws, lambda e: e.get("type") == "hello")
        for user in users:
            conv_id = app_say(shop, user, "转人工")["conversation_id"]
            offer = recv_until(
                agent_ws, lambda e, c=conv_id: e.get("type") == "offer" and e.get("conversation_id") == c
            )
            accept(shop, agent_ws, auth, conv_id, offer)
            convs.append(conv_id)
        wait_for(lambda: all(any(e["event"] == "agent_joined" for e in events_of(receiver, c)) for c in convs))

        callback.stop()
        before = len(receiver.deliveries)
        down_at = time.monotonic()
        sent: dict[str, list[int]] = {c: [] for c in convs}
        for i in range(4):
            for conv_id in convs:
                resp = shop.http.post(
                    f"/api/v1/agents/conversations/{conv_id}/messages", json={"text": f"第{i + 1}条回复"}, headers=auth
                )
                assert resp.status_code == 200, resp.text  # the agent is never held up by the dead callback
                sent[conv_id].append(resp.json()["id"])
        assert time.monotonic() - down_at < 10
        time.sleep(max(0.0, DOWN_S - (time.monotonic() - down_at)))
        assert len(receiver.deliveries) == before
        callback.start()
        expected = sum(len(ids) for ids in sent.values())
        wait_for(lambda: len(receiver.deliveries) >= before + expected, timeout=30, what="catch-up after the outage")
        time.sleep(2.0)  # anything duplicated would show up now

    after = receiver.deliveries[before:]
    keys = [d.key for d in after]
    assert len(keys) == len(set(keys)) == expected, keys
    assert all(d.verified for d in after)
    for conv_id, ids in sent.items():
        got = [d.body["message"]["id"] for d in after if d.body["conversation_id"] == conv_id]
        assert got == ids, (conv_id, got, ids)
    assert max(d.attempt for d in after) > 1  # they really were retried through the outage
    with httpx.Client(base_url=shop.url) as http:
        for conv_id in convs:
            http.post(f"/api/v1/agents/conversations/{conv_id}/close", json={}, headers=auth)
