"""Singleton jobs: on PostgreSQL one replica at a time runs a job (advisory lock); a holder that dies frees it."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from router.db import make_engine
from router.singleton import JobLocks, lock_key

pytestmark = [pytest.mark.pg]


def test_one_replica_at_a_time_and_a_dead_holder_frees_the_job(pg) -> None:  # type: ignore[no-untyped-def]
    engine, _sessions = pg
    a, b = JobLocks(engine), JobLocks(make_engine(engine.url.render_as_string(hide_password=False)))
    inside, release = threading.Event(), threading.Event()

    def slow() -> str:
        inside.set()
        release.wait(10)
        return "a"

    holder = threading.Thread(target=lambda: a.run("alert evaluation", slow))
    holder.start()
    assert inside.wait(10)
    assert b.run("alert evaluation", lambda: "b") == (False, None)  # A is running it
    assert b.run("idle close", lambda: "other job") == (True, "other job")  # other jobs are free
    release.set()
    holder.join(10)
    assert b.run("alert evaluation", lambda: "b") == (True, "b")
    assert a.ran == {"alert evaluation": 1} and b.skipped == {"alert evaluation": 1}

    # a replica killed while holding the lock: its connection goes, and with it the lock
    dying = make_engine(engine.url.render_as_string(hide_password=False))
    conn = dying.connect()
    assert conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key("learning refresh")}).scalar()
    assert b.run("learning refresh", lambda: 1) == (False, None)
    with engine.connect() as admin:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    assert b.run("learning refresh", lambda: 1) == (True, 1)
    conn.invalidate()
    dying.dispose()


def test_on_sqlite_a_job_just_runs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    locks = JobLocks(make_engine(f"sqlite:///{tmp_path / 'one.db'}"))
    assert locks.run("alert evaluation", lambda: 3) == (True, 3)
    assert locks.run("alert evaluation", lambda: 4) == (True, 4)
