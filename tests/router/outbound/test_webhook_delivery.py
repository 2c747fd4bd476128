"""The delivery worker against a real callback server on loopback: signed, in order, at least once, and every bad
answer from the issue (unreachable, slow, 500, 410, redirects, garbage, oversize) handled without losing a row."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from router.outbound.models import DEAD, DELIVERED, PENDING
from router.outbound.service import OutboundAdmin
from router.outbound.signing import BadSignature, sign, verify
from tests.procs import free_port
from tests.router.outbound.callback_server import CallbackServer, Receiver
from tests.router.outbound.support import LOOPBACK, conversation, database, register, rows, run_worker, worker, write


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def server(receiver: Receiver) -> CallbackServer:
    srv = CallbackServer(receiver, free_port()).start()
    yield srv  # type: ignore[misc]
    srv.stop()


def test_signed_deliveries_arrive_in_order_per_conversation(
    tmp_path: Path, receiver: Receiver, server: CallbackServer
) -> None:
    sessions = database(tmp_path)
    receiver.secret = register(sessions, server.url)
    a, b = conversation(sessions, "u-a"), conversation(sessions, "u-b")
    keys_a = write(sessions, a, [f"a{i}" for i in range(6)])
    keys_b = write(sessions, b, [f"b{i}" for i in range(6)])
    run_worker(worker(sessions), lambda: {r.status for r in rows(sessions)} == {DELIVERED})
    got = receiver.deliveries
    assert all(d.verified for d in got), [d.reason for d in got]
    assert [d.key for d in got if d.body["conversation_id"] == a] == keys_a
    assert [d.key for d in got if d.body["conversation_id"] == b] == keys_b
    assert [d.body["message"]["text"] for d in got if d.body["conversation_id"] == a] == [f"a{i}" for i in range(6)]
    assert all(d.body["id"] == d.key and d.body["event"] == "agent_message" for d in got)
    assert {r.status for r in rows(sessions)} == {DELIVERED}


def test_signature_check_rejects_tampering_and_replays() -> None:
    body = b'{"id":"k","text":"hi"}'
    header = sign("s3cret", body, timestamp=1_000_000)
    assert verify("s3cret", header, body, now=1_000_100) == 1_000_000
    with pytest.raises(BadSignature, match="match"):
        verify("s3cret", header, body.replace(b"hi", b"ho"), now=1_000_100)
    with pytest.raises(BadSignature, match="match"):
        verify("other", header, body, now=1_000_100)
    with pytest.raises(BadSignature, match="replay"):
        verify("s3cret", header, body, now=1_000_000 + 301)
    with pytest.raises(BadSignature, match="malformed"):
        verify("s3cret", "t=abc", body)


def test_500_is_retried_until_the_receiver_recovers(tmp_path: Path, receiver: Receiver, server: CallbackServer) -> None:
    sessions = database(tmp_path)
    receiver.secret = register(sessions, server.url)
    receiver.mode, receiver.status, receiver.fail_first = "status", 500, 3
    conv = conversation(sessions, "u-500")
    [key] = write(sessions, conv, ["hello"])
    run_worker(worker(sessions, max_attempts=10), lambda: rows(sessions)[0].status == DELIVERED)
    [row] = rows(sessions)
    assert receiver.keys() == [key] and row.attempts == 4 and row.last_error is None


def test_unreachable_callback_ends_in_the_dead_letter_list_after_bounded_retries(tmp_path: Path) -> None:
    sessions = database(tmp_path)
    register(sessions, f"http://127.0.0.1:{free_port()}/nobody-listens")
    conv = conversation(sessions, "u-down")
    write(sessions, conv, ["one", "two"])
    run_worker(worker(sessions, max_attempts=3), lambda: all(r.status == DEAD for r in rows(sessions)))
    for row in rows(sessions):
        assert row.attempts == 3 and "cannot connect" in (row.last_error or "") and "gave up" in (row.last_error or "")
    dead = OutboundAdmin(sessions=sessions, url_policy=LOOPBACK).messages(status="dead", limit=10, offset=0)
    assert len(dead) == 2


def test_slow_callback_times_out_without_holding_up_other_conversations(
    tmp_path: Path, receiver: Receiver, server: CallbackServer
) -> None:
    sessions = database(tmp_path)
    receiver.secret = register(sessions, server.url)
    slow = conversation(sessions, "u-slow")
    write(sessions, slow, ["slow"])
    receiver.mode, receiver.slow_s = "slow", 3.0
    w = worker(sessions, timeout_s=0.5, max_attempts=2, concurrency=2)

    fast_keys: list[str] = []

    def slow_failed_then_fast_delivered() -> bool:
        statuses = [r.status for r in rows(sessions)]
        if statuses == [DEAD] and not fast_keys:
            receiver.mode = "ok"
            fast_keys.extend(write(sessions, conversation(sessions, "u-fast"), ["fast"]))
        return bool(fast_keys) and receiver.keys() == fast_keys

    took = run_worker(w, slow_failed_then_fast_delivered)
    slow_row = rows(sessions)[0]
    assert slow_row.status == DEAD and "0.5 s" in (slow_row.last_error or "")
    assert took < 6.0  # two 0.5 s attempts plus back-off, never the receiver's 3 s per attempt


def test_410_stops_deliveries_until_an_admin_enables_the_endpoint(
    tmp_path: Path, receiver: Receiver, server: CallbackServer
) -> None:
    sessions = database(tmp_path)
    receiver.secret = register(sessions, server.url)
    receiver.mode, receiver.status = "status", 410
    conv = conversation(sessions, "u-gone")
    keys = write(sessions, conv, ["first", "second"])
    admin = OutboundAdmin(sessions=sessions, url_policy=LOOPBACK)
    run_worker(worker(sessions), lambda: not admin.endpoints()[0]["enabled"])
    time.sleep(0.3)
    assert receiver.hits == 1  # nothing more was tried once the receiver said 410
    assert [r.status for r in rows(sessions)] == [PENDING, PENDING]  # nothing lost either
    assert "410" in (admin.endpoints()[0]["disabled_reason"] or "")
    receiver.mode = "ok"
    admin.set_enabled(channel="app", enabled=True)
    run_worker(worker(sessions), lambda: len(receiver.keys()) == 2)
    assert receiver.keys() == keys


def test_redirect_is_not_followed(tmp_path: Path, receiver: Receiver, server: CallbackServer) -> None:
    sessions = database(tmp_path)
    receiver.secret = register(sessions, server.url)
    receiver.mode = "redirect"
    write(sessions, conversation(sessions, "u-redirect"), ["hi"])
    run_worker(worker(sessions), lambda: rows(sessions)[0].status == DEAD)
    row = rows(sessions)[0]
    assert row.last_status_code == 302 and "not followed" in (row.last_error or "")
    assert receiver.redirect_hits == 0


def test_garbage_instead_of_http_is_retried_and_a_garbage_body_with_200_counts_as_received(
    tmp_path: Path, receiver: Receiver, server: CallbackServer
) -> None:
    sessions = database(tmp_path)
    receiver.secret = register(sessions, server.url)
    receiver.mode = "garbage"
    conv = conversation(sessions, "u-garbage")
    [key] = write(sessions, conv, ["hi"])

    def heal() -> bool:
        if receiver.hits >= 2:
            receiver.mode = "bigreply"  # 200 with 1.8 MB of binary junk: read up to 64 KB, then done
        return receiver.keys() == [key] and rows(sessions)[0].status == DELIVERED

    run_worker(worker(sessions, max_attempts=10), heal)
    assert rows(sessions)[0].attempts >= 2  # the first answer was garbage at least: retried, not lost


def test_oversize_payload_is_dead_lettered_with_its_reason(
    tmp_path: Path, receiver: Receiver, server: CallbackServer
) -> None:
    sessions = database(tmp_path)
    receiver.secret = register(sessions, server.url)
    write(sessions, conversation(sessions, "u-big"), ["长" * 3000])
    run_worker(worker(sessions, max_body_bytes=4096), lambda: rows(sessions)[0].status == DEAD)
    assert "exceeds" in (rows(sessions)[0].last_error or "") and receiver.hits == 0


def test_dead_letter_retry_keeps_the_idempotency_key(
    tmp_path: Path, receiver: Receiver, server: CallbackServer
) -> None:
    sessions = database(tmp_path)
    receiver.secret = register(sessions, server.url)
    receiver.mode, receiver.status = "status", 400
    [key] = write(sessions, conversation(sessions, "u-retry"), ["hi"])
    run_worker(worker(sessions), lambda: rows(sessions)[0].status == DEAD)
    receiver.mode = "ok"
    admin = OutboundAdmin(sessions=sessions, url_policy=LOOPBACK)
    admin.retry(outbound_id=rows(sessions)[0].id)
    run_worker(worker(sessions), lambda: rows(sessions)[0].status == DELIVERED)
    assert receiver.keys() == [key]


def test_tls_handshake_failure_is_retried_then_dead_lettered(
    tmp_path: Path, receiver: Receiver, server: CallbackServer
) -> None:
    sessions = database(tmp_path)
    register(sessions, server.url.replace("http://", "https://"))  # the receiver speaks plain HTTP: no valid TLS
    write(sessions, conversation(sessions, "u-tls"), ["hi"])
    run_worker(worker(sessions, max_attempts=2), lambda: rows(sessions)[0].status == DEAD)
    assert "cannot connect" in (rows(sessions)[0].last_error or "") and receiver.keys() == []


@pytest.mark.pg
def test_two_replicas_on_postgres_deliver_each_row_once_in_order(receiver: Receiver, server: CallbackServer) -> None:
    import asyncio

    from router.db import make_engine, make_session_factory
    from router.migrate import upgrade
    from tests.router.ops_support import fresh_pg_url

    with fresh_pg_url() as url:
        engine = make_engine(url)
        upgrade(engine=engine)
        sessions = make_session_factory(engine)
        receiver.secret = register(sessions, server.url)
        convs = [conversation(sessions, f"u-pg-{i}") for i in range(4)]
        expected = {c: write(sessions, c, [f"{c[:4]}-{j}" for j in range(5)]) for c in convs}
        replicas = [worker(sessions, concurrency=3), worker(sessions, concurrency=3)]

        async def main() -> None:
            for w in replicas:
                w.start()
            try:
                while not await asyncio.to_thread(lambda: {r.status for r in rows(sessions)} == {DELIVERED}):
                    await asyncio.sleep(0.05)
            finally:
                for w in replicas:
                    await w.stop()
                    await w.webhook.aclose()

        asyncio.run(asyncio.wait_for(main(), timeout=60))
        engine.dispose()
    keys = receiver.keys()
    assert len(keys) == len(set(keys)) == 20
    for conv_id, conv_keys in expected.items():
        assert [d.key for d in receiver.deliveries if d.body["conversation_id"] == conv_id] == conv_keys
