"""SQLite WAL checkpoints run in the background thread, not in the commit of whichever request crossed the limit."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import create_engine, text

from router import db


def test_wal_is_copied_back_by_the_background_thread_not_by_commits(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    engine = db.make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            limit = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
            conn.exec_driver_sql("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB)")
        assert limit == db.SAFETY_CHECKPOINT_PAGES  # commits alone would not copy 2 MB of WAL back
        payload = b"x" * 4000
        for _batch in range(10):
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO blobs (body) VALUES (:b)"), [{"b": payload} for _ in range(50)])
        # 2 MB went into the WAL; within a few checkpoint rounds it is in the database file itself
        deadline = time.monotonic() + 10 * db.CHECKPOINT_INTERVAL_S
        while path.stat().st_size < 1_500_000 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert path.stat().st_size >= 1_500_000
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM blobs").scalar() == 500
    finally:
        engine.dispose()
    assert not any(ref() is engine for ref, _, _ in db._checkpointer._watched.values())  # disposed: forgotten


def test_memory_databases_are_not_watched() -> None:
    before = len(db._checkpointer._watched)
    engine = db.make_engine("sqlite://")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    assert len(db._checkpointer._watched) == before
    engine.dispose()


def test_disposing_engines_while_checkpoints_run_is_safe(tmp_path: Path) -> None:
    # Engines disposed from other threads while the checkpointer works on their files (pytest fixtures do this all
    # the time); closing a connection in the middle of its checkpoint used to crash the interpreter.
    checkpointer = db._Checkpointer(interval_s=0.0005)
    engines = []
    for i in range(150):
        path = tmp_path / f"e{i % 5}.db"
        engine = create_engine(f"sqlite:///{path}")
        with engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        checkpointer.watch(engine, str(path))
        engines.append(engine)
        if i % 3 == 0:
            engines.pop(0).dispose()
        time.sleep(0.001)
    for engine in engines:
        engine.dispose()
    checkpointer.checkpoint_all()  # closes what the disposals left behind
    assert checkpointer._watched == {} and checkpointer._closing == []
