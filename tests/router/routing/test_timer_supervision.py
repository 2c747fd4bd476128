"""The routing timer loop cannot die: a failing step is retried, and a loop killed outright is restarted.

Real app (``create_app``, SQLite file), a real agent online, offers with a short timeout: the proof that the loop
runs is that an offer nobody answers times out and goes back to the queue.
"""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from router.app import create_app
from router.auth import create_user
from router.db import make_engine, make_session_factory
from router.migrate import upgrade
from router.routing.engine import RoutingEngine
from router.routing.models import ItemState
from router.settings import Settings


def _settings(tmp_path: Path) -> Settings:
    url = f"sqlite:///{tmp_path / 'timer.db'}"
    db = make_engine(url)
    upgrade(engine=db)
    create_user(
        make_session_factory(db), username="wang", password="secret-pass-1", display_name="小王",
        skills={"general": 5}, status="online",
    )
    db.dispose()
    return Settings(database_url=url, offer_timeout_s=0.5, reoffer_cooldown_s=60.0, routing_tick_max_s=0.1)


def _offer_times_out(engine: RoutingEngine, conversation_id: str, within_s: float = 5.0) -> bool:
    engine.enqueue(conversation_id=conversation_id, customer_id="c-" + conversation_id, skill="general")
    assert engine.items[conversation_id].state is ItemState.offered
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if engine.status_of(conversation_id).state is ItemState.waiting:  # timed out, back in the queue
            return True
        time.sleep(0.05)
    return False


def test_timer_loop_survives_a_failing_next_due(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path))
    with TestClient(app):
        engine: RoutingEngine = app.state.engine
        real = engine.next_due
        failures = []

        def flaky() -> float | None:  # the heap emptied between the check and the read (IndexError), once
            if not failures:
                failures.append(1)
                raise IndexError("heap index out of range")
            return real()

        engine.next_due = flaky  # type: ignore[method-assign]
        time.sleep(0.3)
        assert failures, "the timer loop never asked for its next timer"
        assert _offer_times_out(engine, "conv-after-failure")


def test_supervisor_restarts_a_killed_timer_loop(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path))
    with TestClient(app) as client:
        timer = app.state.routing_timer
        first = timer.current
        client.portal.call(lambda: first.cancel())  # type: ignore[arg-type]
        deadline = time.monotonic() + 5.0
        while timer.current is first and time.monotonic() < deadline:
            time.sleep(0.05)
        assert timer.restarts == 1 and timer.current is not first and not timer.current.done()
        assert _offer_times_out(app.state.engine, "conv-after-kill")
