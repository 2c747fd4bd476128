"""The ``Server-Timing`` header (router/timing.py): stages timed in the request's task and in worker threads reach the
response; a shopper message through the real gateway names its stages."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.concurrency import run_in_threadpool

from router import timing
from router.app import create_app
from router.identity import identity_hash
from router.settings import Settings
from tests.router.ops_support import TEST_WEB_SECRET, migrated, rasa_down_settings, running


def test_header_round_trip() -> None:
    assert timing.parse(timing.header_value({"bot": 12.345, "app": 20.0})) == {"bot": 12.3, "app": 20.0}
    assert timing.parse("miss, db;desc=x;dur=4.5, bad;dur=x") == {"db": 4.5}


def test_stages_from_the_task_and_from_worker_threads_are_summed_into_the_header() -> None:
    app = FastAPI()
    app.add_middleware(timing.ServerTiming)

    def slow_in_thread() -> None:
        with timing.stage("db"):
            time.sleep(0.02)

    @app.get("/x")
    async def handler() -> dict[str, bool]:
        with timing.stage("bot"):
            time.sleep(0.01)
        await run_in_threadpool(slow_in_thread)
        await run_in_threadpool(slow_in_thread)
        return {"ok": True}

    with TestClient(app) as client:
        stages = timing.parse(client.get("/x").headers["server-timing"])
    assert set(stages) == {"bot", "db", "app"}
    assert stages["bot"] >= 10 and stages["db"] >= 40
    assert stages["app"] >= stages["bot"] + stages["db"]


def test_outside_a_request_a_stage_is_a_no_op() -> None:
    with timing.stage("bot"):
        pass
    timing.add("db", 1.0)


@pytest.mark.slow
def test_a_shopper_message_reports_its_stages(tmp_path: Path) -> None:
    engine, _sessions = migrated(tmp_path)
    app = create_app(rasa_down_settings(Settings().sentiment_model_path), db_engine=engine, with_gateway=True)
    with running(app) as client:
        signed = {"customer_id": "u-timing", "identity_hash": identity_hash(TEST_WEB_SECRET, "u-timing")}
        res = client.post("/api/v1/messages", json={"channel": "web", "text": "运费谁出", **signed})
    engine.dispose()
    assert res.status_code == 200, res.text
    stages = timing.parse(res.headers["server-timing"])
    assert {"lock", "db", "pool", "sentiment", "bot", "app"} <= set(stages), stages
    assert stages["app"] >= stages["db"] >= stages["pool"]
