"""The router's edges through a real app: one composition root (the services built once in the lifespan, frozen, the
same objects every API and the gateway's accessors read) and one error body for every domain's errors."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from router.operations_services import job_locks_for_app, ticket_service_for_app
from router.services import Services
from router.settings import Settings
from tests.router.ops_support import add_user, bearer, migrated, ops_app, running

SETTINGS = Settings(database_url="sqlite://")


@pytest.fixture(scope="module")
def app_and_staff(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    engine, sessions = migrated(Path(tmp_path_factory.mktemp("edges")))
    ids = {
        "amy": add_user(sessions, "amy", skills={"general": 3}),
        "sue": add_user(sessions, "sue", role="supervisor", skills={"general": 3}),
        "cat": add_user(sessions, "cat", role="content"),
        "ada": add_user(sessions, "ada", role="admin"),
    }
    roles = {"amy": "agent", "sue": "supervisor", "cat": "content", "ada": "admin"}
    with running(ops_app(SETTINGS, engine)) as client:
        yield client, {name: bearer(SETTINGS, uid, name, roles[name]) for name, uid in ids.items()}
    engine.dispose()


def test_services_are_built_once_and_frozen(app_and_staff: Any) -> None:
    client, _ = app_and_staff
    app = client.app
    services = app.state.services
    assert isinstance(services, Services)
    # what the gateway's wiring reads is the container's, not a second ticket service
    assert ticket_service_for_app(app) is services.tickets
    assert job_locks_for_app(app) is services.job_locks
    assert services.engine is app.state.engine and services.sessions is app.state.sessions
    with pytest.raises(dataclasses.FrozenInstanceError):
        services.tickets = None  # type: ignore[misc,assignment]
    client.get("/api/v1/tickets", headers=app_and_staff[1]["amy"])
    assert app.state.services is services  # a request builds nothing


# (method, path, body, who, status, code): one domain error per API module that used to map its own
CASES: list[tuple[str, str, dict[str, Any] | None, str, int, str]] = [
    ("GET", "/api/v1/tickets/999999", None, "amy", 404, "TicketNotFound"),
    ("PATCH", "/api/v1/canned-replies/999999", {"text": "新的内容"}, "amy", 404, "CannedNotFound"),
    ("POST", "/api/v1/alerts/999999/status", {"status": "resolved"}, "sue", 404, "AlertNotFound"),
    ("POST", "/api/v1/learning/proposals/999999/reject", None, "cat", 404, "ProposalNotFound"),
    ("GET", "/api/v1/kpis?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", None, "sue", 422, "InvalidRange"),
    ("GET", "/static/web/no-such-file.js", None, "amy", 404, "StaticFileNotFound"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[-1] for c in CASES])
def test_every_domain_error_has_the_one_body(app_and_staff: Any, case: tuple[Any, ...]) -> None:
    client, staff = app_and_staff
    method, path, body, who, status, code = case
    res = client.request(method, path, json=body, headers=staff[who])
    assert res.status_code == status, res.text
    data = res.json()
    assert set(data) == {"detail", "code", "message", "context"}, data
    assert data["code"] == code
    assert isinstance(data["detail"], str) and data["detail"].isascii()  # English, for logs and integrators
    assert any("\u4e00" <= ch <= "\u9fff" for ch in data["message"]), data  # Chinese, for staff


def test_the_ticket_reason_staff_read_is_chinese(app_and_staff: Any) -> None:
    client, staff = app_and_staff
    created = client.post("/api/v1/tickets", headers=staff["amy"], json={"subject": "发票抬头写错了", "assign": "none"})
    assert created.status_code == 201, created.text
    ticket = created.json()["id"]
    moved = client.patch(f"/api/v1/tickets/{ticket}", headers=staff["amy"], json={"assignee_id": 424242})
    assert moved.status_code == 403 and moved.json()["code"] == "NotAllowed"
    assert moved.json()["message"] == "只有主管可以把工单转给其他人。"
    assert "supervisor" in moved.json()["detail"]
