"""A PostgreSQL restart or fail-over drops every connection of a replica's pool: the next request must not fail.

Two fixes, each shown failing here when removed (the fault suite's PostgreSQL check terminates backends between
requests, where either fix alone hides the other):
- ``pool_pre_ping`` (router/db.py): a connection whose backend is gone is replaced when checked out;
- the gateway's retry (router/gateway/transactions.py): a transaction whose connection dies mid-way runs again.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from router.db import session_scope
from router.gateway import transactions
from router.gateway.transactions import Transactions

pytestmark = pytest.mark.pg


def _terminate_other_backends(engine: Engine) -> int:
    """What a restart does to the pool: every other connection to the database is ended (from outside the pool)."""
    killer = create_engine(engine.url, poolclass=NullPool)
    try:
        with killer.connect() as conn:
            killed = conn.execute(
                text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                     "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            ).scalar_one()
            conn.commit()
    finally:
        killer.dispose()
    return int(killed)


def test_a_pooled_connection_whose_backend_died_is_replaced_on_checkout(
    pg: tuple[Engine, sessionmaker[Session]],
) -> None:
    engine, sessions = pg
    with session_scope(sessions) as s:  # the pool now holds one idle connection
        s.execute(text("SELECT 1"))
    assert _terminate_other_backends(engine) >= 1
    with session_scope(sessions) as s:  # without pre-ping: "terminating connection due to administrator command"
        assert s.execute(text("SELECT 1")).scalar_one() == 1


def test_a_transaction_whose_connection_dies_midway_runs_again(
    pg: tuple[Engine, sessionmaker[Session]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine, sessions = pg
    monkeypatch.setattr(transactions.asyncio, "sleep", _no_wait)  # the back-off, not the point here
    runs: list[int] = []

    def work(session: Session) -> int:
        runs.append(1)
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        if len(runs) == 1:  # the backend dies under this transaction, as in a restart
            with engine.connect() as killer:
                killer.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
                killer.commit()
        return int(session.execute(text("SELECT 41 + 1")).scalar_one())

    assert asyncio.run(Transactions(sessions).run(work)) == 42
    assert len(runs) == 2


def test_a_database_that_stays_down_is_reported_after_the_retries(
    pg: tuple[Engine, sessionmaker[Session]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    _engine, sessions = pg
    monkeypatch.setattr(transactions.asyncio, "sleep", _no_wait)
    runs: list[int] = []

    def down(_session: Session) -> None:
        runs.append(1)
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))

    with pytest.raises(OperationalError):
        asyncio.run(Transactions(sessions).run(down))
    assert len(runs) == transactions.DB_RETRIES


async def _no_wait(_seconds: float) -> None:
    return None
