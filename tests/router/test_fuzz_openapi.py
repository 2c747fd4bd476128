"""Schemathesis against the running router's own OpenAPI spec: no input, however odd, gets a 5xx."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from router.auth import create_user
from router.db import make_engine, make_session_factory
from router.migrate import upgrade
from tests.e2e.helpers import credentials_env, shop_credentials
from tests.procs import ROOT, Proc, free_port, start_router

pytestmark = [pytest.mark.slow]
EXAMPLES_PER_OPERATION = 12


@pytest.fixture(scope="module")
def router_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proc, str, str]]:
    tmp = tmp_path_factory.mktemp("fuzz")
    corpus = tmp / "corpus"
    shutil.copytree(ROOT / "knowledge_base" / "data", corpus)  # admin endpoints may edit it: never the real one
    db_url = f"sqlite:///{tmp / 'fuzz.db'}"
    upgrade(db_url)
    sessions = make_session_factory(make_engine(db_url))
    create_user(sessions, username="root", password="root-pass-123", role="admin", skills={"general": 3})
    credentials = shop_credentials(db_url)
    env = {
        **credentials_env(credentials),
        "KEFU_ROUTER_DATABASE_URL": db_url,
        "KEFU_ROUTER_RASA_URL": f"http://127.0.0.1:{free_port()}",  # Rasa down: the gateway must still answer
        "KEFU_ROUTER_RATE_LIMIT_MESSAGES": "100000",
        "KEFU_KB_CORPUS_DIR": str(corpus),
        "KEFU_KB_HOME": str(ROOT / "var" / "kb"),
    }
    proc = start_router(log_dir=tmp, env=env, name="router-fuzz")
    token = httpx.post(
        f"{proc.url}/api/v1/auth/login", json={"username": "root", "password": "root-pass-123"}, timeout=30
    ).json()["access_token"]
    # warm the knowledge base (first use loads or builds the index) so fuzz timings measure requests, not start-up
    httpx.post(f"{proc.url}/api/v1/messages", json={"channel": "web", "text": "你好"}, timeout=300)
    for path in ("/api/v1/admin/faq/entries",):
        httpx.get(f"{proc.url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=300)
    yield proc, token, credentials["app"]
    proc.stop()


def _operations(url: str) -> list[Any]:
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


def _fuzz_operation(op: Any, base_url: str, headers: dict[str, str], failures: list[str]) -> None:
    @given(case=op.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def run(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=60)
        if response.status_code >= 500:
            failures.append(f"{op.label} -> {response.status_code}: {response.text[:200]}")

    run()


def test_no_operation_answers_5xx(router_proc: tuple[Proc, str, str]) -> None:
    proc, token, app_key = router_proc
    operations = _operations(proc.url)
    assert len(operations) >= 15, [op.label for op in operations]
    failures: list[str] = []
    for op in operations:
        # an admin who is also a shop backend (the channel key passes the shopper endpoints), and nobody
        for headers in ({"Authorization": f"Bearer {token}", "X-Kefu-Channel-Key": app_key}, {}):
            _fuzz_operation(op, proc.url, headers, failures)
    assert proc.popen.poll() is None, f"the router died:\n{proc.log_tail()}"
    assert not failures, "\n".join(failures[:20])


def test_hostile_messages_get_4xx_or_a_polite_reply(router_proc: tuple[Proc, str, str]) -> None:
    proc, _token, _key = router_proc
    first = httpx.post(f"{proc.url}/api/v1/messages", json={"channel": "web", "text": "你好"}, timeout=60)
    visitor = {"Authorization": f"Bearer {first.json()['visitor_token']}"}
    http = httpx.Client(base_url=proc.url, timeout=60, headers=visitor)
    cases: list[tuple[Any, set[int]]] = [
        ({"channel": "web", "text": ""}, {422}),
        ({"channel": "web", "text": " \t\n "}, {422}),
        ({"channel": "web", "text": "x" * 100_000}, {413, 422}),
        ({"channel": "web", "text": "😡😡😡"}, {200}),
        ({"channel": "web", "text": "'; DROP TABLE messages; --"}, {200}),
        (
            {"channel": "web", "text": "<script>alert(1)</script><img src=x onerror=alert(2)>"},
            {200},
        ),
        ({"channel": "web", "customer_id": "h1' OR '1'='1", "text": "你好"}, {422}),
        ({"channel": "web", "text": "\x00\x01\x02"}, {422}),
    ]
    for body, allowed in cases:
        resp = http.post("/api/v1/messages", json=body)
        assert resp.status_code in allowed, (body, resp.status_code, resp.text[:200])
        if resp.status_code == 200:
            replies = resp.json()["replies"]
            assert replies and all(r["text"] for r in replies)
        else:
            assert resp.json()["detail"]
    for raw, ctype in (
        (b"\xff\xfe\xfa not utf-8", "application/json"),
        (bytes(range(256)), "application/octet-stream"),
    ):
        resp = http.post("/api/v1/messages", content=raw, headers={"content-type": ctype})
        assert 400 <= resp.status_code < 500, resp.text
    # the SQL injection text was stored as text, and the table is still there
    history = http.post("/api/v1/messages", json={"channel": "web", "text": "还在吗"})
    assert history.status_code == 200
    conv = history.json()["conversation_id"]
    texts = [m["text"] for m in http.get(f"/api/v1/conversations/{conv}/history").json()]
    other = httpx.post(f"{proc.url}/api/v1/messages", json={"channel": "web", "text": "你好"}, timeout=60).json()
    stranger = {"Authorization": f"Bearer {other['visitor_token']}"}
    assert httpx.get(f"{proc.url}/api/v1/conversations/{conv}/history", headers=stranger).status_code == 404
    assert "'; DROP TABLE messages; --" in texts


def test_rate_limit_per_customer(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'rl.db'}"
    upgrade(db_url)
    env = {
        "KEFU_ROUTER_DATABASE_URL": db_url,
        "KEFU_ROUTER_RASA_URL": f"http://127.0.0.1:{free_port()}",
        "KEFU_ROUTER_RATE_LIMIT_MESSAGES": "5",
        "KEFU_ROUTER_RATE_LIMIT_WINDOW_S": "60",
    }
    credentials = shop_credentials(db_url)
    proc = start_router(log_dir=tmp_path, env=env, name="router-ratelimit")
    try:
        http = httpx.Client(base_url=proc.url, timeout=30, headers={"X-Kefu-Channel-Key": credentials["app"]})
        codes = [
            http.post(
                "/api/v1/messages", json={"channel": "app", "customer_id": "spam", "text": f"第{i}条"}
            ).status_code
            for i in range(8)
        ]
        assert codes[:5] == [200] * 5 and codes[5:] == [429] * 3, codes
        limited = http.post("/api/v1/messages", json={"channel": "app", "customer_id": "spam", "text": "再来"})
        assert int(limited.headers["Retry-After"]) >= 1
        other = http.post("/api/v1/messages", json={"channel": "app", "customer_id": "calm", "text": "你好"})
        assert other.status_code == 200  # the limit is per customer
    finally:
        proc.stop()
