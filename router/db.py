"""Database engine and session factory: SQLite (WAL) by default, PostgreSQL by URL."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

log = logging.getLogger(__name__)
CHECKPOINT_INTERVAL_S = 1.0
SAFETY_CHECKPOINT_PAGES = 20_000  # ~80 MB of WAL


class Base(DeclarativeBase):
    """Declarative base shared by every router/ticket table (one Alembic history)."""


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and foreign keys."""
    if url.startswith("sqlite"):
        database = make_url(url).database or ""
        on_disk = database not in ("", ":memory:") and "mode=memory" not in url
        if on_disk:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            if on_disk:  # the checkpointer thread copies the WAL back, not the commit that crossed 1,000 pages;
                # a far higher limit stays as a safety net should that thread ever fall behind
                cur.execute(f"PRAGMA wal_autocheckpoint={SAFETY_CHECKPOINT_PAGES}")
            cur.close()

        if on_disk:
            _checkpointer.watch(engine, database)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return create_engine(url, pool_pre_ping=True, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A transaction: commit on success, roll back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


class _Checkpointer:
    """Copies SQLite WAL files back into their databases from one background thread.

    With SQLite's automatic checkpoint, the commit that pushes the WAL past 1,000 pages also copies it back and
    syncs the file, inside the request that happened to commit: a routing decision's p99 went from under 4 ms to
    7 ms that way (bench/router_bench.py latency, SQLite store). Here every engine's connections turn the automatic
    checkpoint off (all but a far-off safety limit) and this thread runs a PASSIVE checkpoint, which never blocks
    readers or writers, every second on its own connection. Engines that were disposed or collected are forgotten.
    """

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._watched: dict[int, tuple[weakref.ref[Engine], str, list[sqlite3.Connection]]] = {}
        self._thread: threading.Thread | None = None
        self._round = threading.Lock()  # one checkpoint round at a time: it alone uses and closes the connections
        self._closing: list[sqlite3.Connection] = []

    def watch(self, engine: Engine, path: str) -> None:
        key = id(engine)

        @event.listens_for(engine, "engine_disposed")
        def _forget(_engine: Engine) -> None:
            self._forget(key)

        with self._lock:
            self._forget_locked(key)  # an id reused by a new engine
            self._watched[key] = (weakref.ref(engine), path, [])
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="sqlite-checkpointer", daemon=True)
                self._thread.start()

    def _forget(self, key: int) -> None:
        """An engine was disposed: close this thread's connection to its file now, once no round is using it.

        Disposing an engine promises that SQLite folds the WAL back into the database file (the last connection to
        close does it); a connection left open here until the next round would break that promise for a second
        (a copy of the file taken right after ``dispose()`` missed every row still in the WAL).
        """
        with self._round:
            with self._lock:
                entry = self._watched.pop(key, None)
            for conn in entry[2] if entry is not None else []:
                with contextlib.suppress(Exception):
                    conn.close()

    def _forget_locked(self, key: int) -> None:
        # The connection may be in the middle of a checkpoint on the checkpointer thread: closing it from here could
        # crash the interpreter inside SQLite. Only the round that owns the connections closes them.
        entry = self._watched.pop(key, None)
        if entry is not None:
            self._closing.extend(entry[2])

    def checkpoint_all(self) -> None:
        with self._round:
            with self._lock:
                closing, self._closing = self._closing, []
                entries = list(self._watched.items())
            for conn in closing:
                with contextlib.suppress(Exception):
                    conn.close()
            for key, (ref, path, conns) in entries:
                if ref() is None or not Path(path).exists():
                    with self._lock:  # collected without dispose (or file gone): closed by the next round
                        self._forget_locked(key)
                    continue
                try:
                    if not conns:
                        conns.append(sqlite3.connect(path, timeout=1.0, check_same_thread=False))
                    conns[0].execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # busy or gone: the next round tries again (the WAL grows meanwhile)
                    log.debug("checkpoint of %s skipped: %s", path, exc)
                with self._lock:
                    forgotten = self._watched.get(key, (None, None, None))[2] is not conns
                if forgotten:  # disposed while this round used it: the connection opened here is closed here
                    for conn in conns:
                        with contextlib.suppress(Exception):
                            conn.close()
                    conns.clear()

    def _run(self) -> None:
        while True:
            time.sleep(self.interval_s)
            self.checkpoint_all()


_checkpointer = _Checkpointer(CHECKPOINT_INTERVAL_S)
