"""kill -9 a real uvicorn process mid-offer, restart it, and check nothing queued is lost and offers end correctly."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from router.auth import create_user
from router.db import make_engine, make_session_factory
from router.migrate import upgrade
from tests.procs import APP_PY, ROOT, Proc, free_port, wait_http

PASSWORD = "restart-pass-1"
OFFER_TIMEOUT_S = 20.0  # long enough for a restart on a busy 2-core machine


def start(db_url: str, log_dir: Path, port: int) -> Proc:
    env = {
        **os.environ,
        "KEFU_ROUTER_DATABASE_URL": db_url,
        "KEFU_ROUTER_SECRET_KEY": "restart-test-secret-key-0123456789abcdef",
        "KEFU_ROUTER_OFFER_TIMEOUT_S": str(OFFER_TIMEOUT_S),
        "KEFU_ROUTER_ROUTING_TICK_MAX_S": "0.2",
    }
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "router.log"
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            [
                str(APP_PY),
                "-m",
                "uvicorn",
                "router.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    proc = Proc("router", popen, f"http://127.0.0.1:{port}", log_path)
    wait_http(proc, "/healthz", 60)
    return proc


def login(base: str, username: str) -> dict[str, str]:
    response = httpx.post(f"{base}/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def offers(base: str, headers: dict[str, str]) -> list[dict[str, object]]:
    response = httpx.get(f"{base}/api/v1/agents/me/offers", headers=headers)
    response.raise_for_status()
    return list(response.json())


def state_of(base: str, headers: dict[str, str], cid: str) -> str:
    response = httpx.get(f"{base}/api/v1/routing/conversations/{cid}/status", headers=headers)
    response.raise_for_status()
    return str(response.json()["state"])


@pytest.mark.timeout(180)
def test_kill_9_mid_offer_recovers_queue_offers_and_timers(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'restart.db'}"
    db = make_engine(db_url)
    upgrade(engine=db)
    sessions = make_session_factory(db)
    create_user(sessions, username="wang", password=PASSWORD, skills={"general": 5}, capacity={"chat": 1})
    create_user(sessions, username="li", password=PASSWORD, skills={"general": 4}, capacity={"chat": 1})
    create_user(sessions, username="boss", password=PASSWORD, role="supervisor", capacity={"chat": 0})
    db.dispose()
    port = free_port()
    proc = start(db_url, tmp_path / "logs", port)
    base = proc.url
    try:
        wang, li, boss = login(base, "wang"), login(base, "li"), login(base, "boss")
        httpx.put(
            f"{base}/api/v1/agents/me/status", json={"status": "online", "connection": "api"}, headers=wang
        ).raise_for_status()
        for cid in ("c1", "c2", "c3"):
            body = {"conversation_id": cid, "customer_id": f"u-{cid}", "skill": "general"}
            assert httpx.post(f"{base}/api/v1/routing/handoffs", json=body, headers=boss).status_code == 201
        (offer,) = offers(base, wang)
        assert offer["conversation_id"] == "c1"

        proc.kill9()  # mid-offer
        proc = start(db_url, tmp_path / "logs", port)
        (again,) = offers(base, wang)  # the pending offer survived, with its remaining time
        assert again["id"] == offer["id"] and again["deadline"] == offer["deadline"]
        assert [state_of(base, boss, c) for c in ("c2", "c3")] == ["waiting", "waiting"]
        accepted = httpx.post(f"{base}/api/v1/agents/offers/{offer['id']}/accept", headers=wang)
        assert accepted.status_code == 200, accepted.text
        httpx.post(f"{base}/api/v1/agents/conversations/c1/close", headers=wang).raise_for_status()
        (second,) = offers(base, wang)
        assert second["conversation_id"] == "c2"

        proc.kill9()  # again mid-offer, and stay down longer than the offer timeout
        time.sleep(OFFER_TIMEOUT_S + 1.0)
        proc = start(db_url, tmp_path / "logs", port)
        # c2's offer timed out during recovery; wang (in cool-down for c2) is offered c3 instead
        (third,) = offers(base, wang)
        assert third["conversation_id"] == "c3"
        assert state_of(base, boss, "c2") == "waiting"
        late = httpx.post(f"{base}/api/v1/agents/offers/{second['id']}/accept", headers=wang)
        assert late.status_code == 409
        httpx.post(f"{base}/api/v1/agents/offers/{third['id']}/accept", headers=wang).raise_for_status()
        httpx.put(
            f"{base}/api/v1/agents/me/status", json={"status": "online", "connection": "api"}, headers=li
        ).raise_for_status()
        (for_li,) = offers(base, li)
        assert for_li["conversation_id"] == "c2"

        # a timer armed after the restart also fires: li lets the offer run out, it comes back to the queue
        deadline = time.monotonic() + OFFER_TIMEOUT_S + 5
        while offers(base, li) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert offers(base, li) == []
        assert state_of(base, boss, "c2") == "waiting"
    finally:
        proc.stop()
