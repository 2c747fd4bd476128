"""Shared helpers of the operations tests (tickets, reports, alerts, learning): real migrated databases, real users,
real apps built by ``create_app``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from router.app import create_app
from router.auth import Principal, create_user, issue_token
from router.db import make_engine, make_session_factory
from router.migrate import upgrade
from router.settings import Settings


def rasa_down_settings(model_path: Path) -> Settings:
    """Settings of a gateway whose Rasa server is down (a closed loopback port), for paths that never reach the bot
    (survey answers, left messages, ticket replies), with the session's trained sentiment model."""
    from tests.procs import free_port  # bound and released: nothing listens there

    return Settings(
        database_url="sqlite://",
        rasa_url=f"http://127.0.0.1:{free_port()}",
        rasa_timeout_s=2.0,
        sentiment_model_path=model_path,
        operations_background=False,
        web_identity_secret=TEST_WEB_SECRET,
    )


def migrated(tmp_path: Path, name: str = "ops.db") -> tuple[Engine, sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / name}")
    upgrade(engine=engine)
    return engine, make_session_factory(engine)


PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


@contextmanager
def fresh_pg_url() -> Iterator[str]:
    """A throw-away PostgreSQL database on the local server (fails when the server is not running)."""
    import uuid

    import psycopg

    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            pass
    except psycopg.OperationalError:
        from tests.artifacts import fail_without_postgres

        fail_without_postgres(PG_ADMIN)
    name = f"kefu_ops_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def add_user(
    sessions: sessionmaker[Session],
    username: str,
    *,
    role: str = "agent",
    skills: dict[str, int] | None = None,
    status: str = "online",
) -> int:
    return create_user(
        sessions, username=username, password="secret-pass-1", display_name=username, role=role,
        skills=skills or {}, status=status,
    )


def bearer(settings: Settings, user_id: int, username: str, role: str) -> dict[str, str]:
    token = issue_token(Principal(id=user_id, username=username, role=role, display_name=username), settings)
    return {"Authorization": f"Bearer {token}"}


def ops_app(settings: Settings, engine: Engine, *, kb: Any | None = None) -> FastAPI:
    """The real router app without the gateway (no Rasa needed), with the operations routers and services (``kb``:
    a test knowledge base for them), background loops off."""
    settings = settings.model_copy(update={"operations_background": False})
    return create_app(settings, db_engine=engine, with_gateway=False, kb=kb)


@contextmanager
def running(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def channel_key(client: TestClient, channel: str = "app") -> dict[str, str]:
    """The header of a shop backend on ``channel`` (a new key of the running app, older ones kept)."""
    key = client.app.state.identity.rotate_channel_key(channel, keep_old=True)  # type: ignore[attr-defined]
    return {"X-Kefu-Channel-Key": key}


TEST_WEB_SECRET = "ops-test-web-identity-secret-0123456789"


def shop_keys(client: TestClient) -> dict[str, str]:
    """What a shop's servers hold (the shape of var/demo/channel_keys.json), for a running app."""
    identity = client.app.state.identity  # type: ignore[attr-defined]
    keys = {channel: identity.rotate_channel_key(channel, keep_old=True) for channel in ("app", "miniprogram")}
    return {**keys, "web_identity_secret": identity.web_identity_secret or ""}


def web_token(client: TestClient, customer_id: str) -> dict[str, str]:
    """The bearer header of a web shopper already verified as ``customer_id`` (what the widget holds)."""
    token = client.app.state.identity.issue_token(customer_id, verified=True)  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {token}"}
