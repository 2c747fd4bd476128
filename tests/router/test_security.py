"""Authentication and roles on every kind of endpoint: one test per role boundary, plus token and secret hygiene."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from router.app import create_app
from router.auth import Principal, create_user, issue_token
from router.db import make_engine, make_session_factory
from router.migrate import upgrade
from router.settings import Settings

PASSWORD = "role-test-pass"
ROLES = ("agent", "content", "supervisor", "admin")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp: Path = tmp_path_factory.mktemp("roles")
    url = f"sqlite:///{tmp / 'roles.db'}"
    upgrade(url)
    sessions = make_session_factory(make_engine(url))
    for role in ROLES:
        create_user(sessions, username=f"u-{role}", password=PASSWORD, role=role, skills={"general": 3})
    settings = Settings(
        database_url=url, rasa_url="http://127.0.0.1:9", secret_key="role-test-secret-0123456789-abcdefghij"
    )
    with TestClient(create_app(settings, with_gateway=True)) as c:
        yield c


def login(client: TestClient, role: str) -> dict[str, str]:
    resp = client.post("/api/v1/auth/login", json={"username": f"u-{role}", "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


# (method, path, json body, roles allowed); every other role gets 403 and anonymous callers 401. Admins hold no agent
# profile, so the endpoints about "my" routing work answer them 404 (no such agent) and are left out for them.
BOUNDARIES = [
    ("PUT", "/api/v1/agents/me/status", {"status": "away"}, {"agent", "supervisor"}),
    ("GET", "/api/v1/agents/me/offers", None, {"agent", "supervisor"}),
    ("GET", "/api/v1/agents/queue", None, {"supervisor", "admin"}),
    ("GET", "/api/v1/kpis", None, {"supervisor", "admin"}),
    ("GET", "/api/v1/admin/faq/entries", None, {"content", "admin"}),
    ("POST", "/api/v1/admin/faq/try", {"question": "退款多久到账"}, {"content", "admin"}),
    ("GET", "/api/v1/tickets", None, {"agent", "supervisor", "admin"}),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "allowed"), BOUNDARIES, ids=[f"{m} {p}" for m, p, _, _ in BOUNDARIES]
)
def test_role_boundary(
    client: TestClient, method: str, path: str, body: dict[str, str] | None, allowed: set[str]
) -> None:
    assert client.request(method, path, json=body).status_code == 401
    for role in ROLES:
        if role == "admin" and "/agents/me" in path:
            continue
        status = client.request(method, path, json=body, headers=login(client, role)).status_code
        if role in allowed:
            assert status < 400, (role, path, status)
        else:
            assert status == 403, (role, path, status)


def test_agents_cannot_edit_the_faq(client: TestClient) -> None:
    resp = client.put(
        "/api/v1/admin/faq/entries/refund_time", json={"answer": "被篡改的答案"}, headers=login(client, "agent")
    )
    assert resp.status_code == 403


def test_wrong_password_and_unknown_user(client: TestClient) -> None:
    assert client.post("/api/v1/auth/login", json={"username": "u-agent", "password": "nope-nope"}).status_code == 401
    assert client.post("/api/v1/auth/login", json={"username": "ghost", "password": PASSWORD}).status_code == 401


def test_expired_and_forged_tokens_are_refused(client: TestClient) -> None:
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    who = Principal(id=1, username="u-agent", role="agent", display_name="u-agent")
    expired = issue_token(who, settings, now=time.time() - settings.token_ttl_s - 60)
    assert client.get("/api/v1/agents/me", headers={"Authorization": f"Bearer {expired}"}).status_code == 401
    forged = jwt.encode({"sub": "1", "role": "admin", "exp": time.time() + 3600}, "not-the-secret", algorithm="HS256")
    assert client.get("/api/v1/kpis", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    assert client.get("/api/v1/agents/me", headers={"Authorization": "Bearer garbage"}).status_code == 401


def test_passwords_are_hashed(client: TestClient) -> None:
    from sqlalchemy import select

    from router.routing.tables import User

    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        stored = session.scalar(select(User.password_hash).where(User.username == "u-agent"))
    assert stored and PASSWORD not in stored and len(stored) > 40


def test_default_secrets_refused_outside_dev() -> None:
    with pytest.raises(ValidationError):
        Settings(env="prod")
    with pytest.raises(ValidationError):
        Settings(env="prod", secret_key="a-real-secret-value-123456", rasa_token="kefu-dev-rasa-token")
    ok = Settings(env="prod", secret_key="a-real-secret-value-123456", rasa_token="a-real-rasa-token")
    assert ok.env == "prod"


def test_identity_secrets_are_long_or_unset() -> None:
    assert Settings(web_identity_secret="", metrics_token="").web_identity_secret is None
    with pytest.raises(ValidationError):
        Settings(web_identity_secret="short")
    with pytest.raises(ValidationError):
        Settings(metrics_token="short")
