"""Supervisor agent-load API and the served web pages, through a real app on a real SQLite database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from router.app import create_app
from router.auth import create_user
from router.settings import Settings

PASSWORD = "kefu-test-password"


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'router.db'}"))
    with TestClient(app) as client:
        sessions = app.state.sessions
        create_user(sessions, username="boss", password=PASSWORD, display_name="主管", role="supervisor",
                    skills={"general": 3})
        create_user(sessions, username="a1", password=PASSWORD, display_name="小王", role="agent",
                    skills={"general": 4}, capacity={"chat": 2})
        yield client


def _token(client: TestClient, username: str) -> dict[str, str]:
    res = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert res.status_code == 200, res.text
    return {"Authorization": f"Bearer {res.json()['access_token']}"}


def test_supervisor_sees_every_agents_status_and_load(app_client: TestClient) -> None:
    agent = _token(app_client, "a1")
    assert app_client.put(
        "/api/v1/agents/me/status", json={"status": "online", "connection": "api"}, headers=agent
    ).status_code == 200
    boss = _token(app_client, "boss")
    rows = app_client.get("/api/v1/admin/agents", headers=boss).json()
    me = next(r for r in rows if r["name"] == "小王")
    assert me["status"] == "online" and me["capacity"] == {"chat": 2} and me["conversations"] == 0
    assert rows[0]["status"] == "online"  # online agents first
    assert app_client.get("/api/v1/admin/agents", headers=agent).status_code == 403
    assert app_client.get("/api/v1/admin/agents").status_code == 401


@pytest.mark.parametrize("path", ["/chat", "/chat/embed", "/agent", "/admin/faq", "/dashboard"])
def test_pages_are_served_with_a_strict_csp(app_client: TestClient, path: str) -> None:
    res = app_client.get(path)
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/html")
    csp = res.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert ("frame-ancestors *" in csp) == (path == "/chat/embed")  # only the chat may be embedded in shops
    assert 'lang="zh-CN"' in res.text and "http://" not in res.text and "https://" not in res.text


def test_widget_and_static_files(app_client: TestClient) -> None:
    widget = app_client.get("/widget.js")
    assert widget.status_code == 200 and "/chat/embed" in widget.text
    assert widget.headers["access-control-allow-origin"] == "*"
    assert app_client.get("/static/web/chat.js").status_code == 200
    for bad in ["/static/web/../pages.py", "/static/web/%2e%2e/pages.py", "/static/web/nope.js"]:
        assert app_client.get(bad).status_code == 404
