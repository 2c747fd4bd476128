"""The demo store's database engine: SQLite (WAL, busy timeout, foreign keys) by default, any SQLAlchemy URL else.

The shop's data is not the router's: this package has its own engine helper rather than the router's
(``router.db.make_engine``, which adds a WAL checkpointer thread sized for the router's write load; the demo store
writes a few rows per shopper request, so SQLite's own automatic checkpoints are enough).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, a 30 s busy timeout and foreign keys; ``postgresql://`` uses psycopg 3."""
    if url.startswith("sqlite"):
        database = make_url(url).database or ""
        if database not in ("", ":memory:") and "mode=memory" not in url:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return create_engine(url, pool_pre_ping=True, **kwargs)
