"""A real app with the gateway (Rasa down: a closed port, the bot answers politely that it is unavailable), a real
SQLite database, a web identity secret and channel keys for the app and mini-program channels."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from router.app import create_app
from router.auth import create_user
from router.db import make_engine, make_session_factory
from router.identity import IdentityService, identity_hash
from router.migrate import upgrade
from router.settings import Settings
from tests.procs import free_port

SECRET = "identity-test-web-secret-0123456789abcdef"
METRICS_TOKEN = "identity-test-metrics-token-0123456789"
PASSWORD = "identity-pass-123"


@dataclass
class Shop:
    client: TestClient
    settings: Settings
    keys: dict[str, str]

    @property
    def identity(self) -> IdentityService:
        identity: IdentityService = self.client.app.state.identity  # type: ignore[attr-defined]
        return identity

    def visitor(self, text: str = "你好") -> tuple[str, dict[str, Any]]:
        """A new anonymous web visitor's first message: (token, answer)."""
        resp = self.client.post("/api/v1/messages", json={"channel": "web", "text": text})
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return str(body["visitor_token"]), body

    def say(self, token: str, text: str) -> dict[str, Any]:
        resp = self.client.post("/api/v1/messages", json={"channel": "web", "text": text}, headers=bearer(token))
        assert resp.status_code == 200, resp.text
        answer: dict[str, Any] = resp.json()
        return answer

    def login(self, username: str) -> str:
        resp = self.client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert resp.status_code == 200, resp.text
        return str(resp.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signed(customer_id: str, secret: str = SECRET) -> dict[str, str]:
    return {"customer_id": customer_id, "identity_hash": identity_hash(secret, customer_id)}


def build_shop(tmp: Path, *, rotate: bool = True, **overrides: Any) -> Iterator[Shop]:
    """A running shop app; ``rotate`` gives it fresh channel keys (revoking any others, e.g. the demo keys)."""
    url = f"sqlite:///{tmp / 'identity.db'}"
    upgrade(url)
    sessions = make_session_factory(make_engine(url))
    for role in ("agent", "supervisor", "content", "admin"):
        create_user(sessions, username=f"id-{role}", password=PASSWORD, role=role, skills={"general": 3})
    create_user(sessions, username="id-agent2", password=PASSWORD, role="agent", skills={"general": 3})
    values: dict[str, Any] = {
        "database_url": url,
        "rasa_url": f"http://127.0.0.1:{free_port()}",
        "rasa_timeout_s": 2.0,
        "secret_key": "identity-test-jwt-secret-0123456789-abcdef",
        "web_identity_secret": SECRET,
        "metrics_token": METRICS_TOKEN,
        "operations_background": False,
        **overrides,
    }
    settings = Settings(**values)
    with TestClient(create_app(settings, with_gateway=True)) as client:
        identity: IdentityService = client.app.state.identity  # type: ignore[attr-defined]
        keys = {channel: identity.rotate_channel_key(channel) for channel in ("app", "miniprogram")} if rotate else {}
        yield Shop(client, settings, keys)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    yield from build_shop(tmp_path_factory.mktemp("identity"))
