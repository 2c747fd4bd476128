"""The gateway's domain errors reach HTTP through the app's one handler (router/errors.py) with the statuses the
inline mappings had, and bodies the JS clients read: ``detail`` a string, ``message`` the Chinese wording
(router/web/static/common.js shows ``message`` when ``code`` is present)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from router.errors import KefuError, install_error_handler
from router.gateway.errors import (
    AssignedToAnotherAgent,
    ConversationNotFound,
    NewVisitorsLimited,
    NoAgentOnline,
    NotConversationOwner,
    RateLimited,
)

CASES: list[tuple[KefuError, int, str]] = [
    (ConversationNotFound(conversation_id="c1"), 404, "conversation not found"),
    (NotConversationOwner(conversation_id="c1", agent_id=7), 409, "this conversation is not assigned to you"),
    (AssignedToAnotherAgent(conversation_id="c1", agent_id=7), 403, "this conversation is assigned to another agent"),
    (RateLimited(customer_id="u1", retry_after_s=12.4), 429, "too many messages; retry in 12 s"),
    (NewVisitorsLimited(customer_id="new-visitor:1.2.3.4", retry_after_s=0.2), 429,
     "too many new visitors from this address; retry in 1 s (a returning visitor sends its token)"),
    (NoAgentOnline(skill="billing", off_hours="9:00-18:00"), 409, "no agent online for skill billing"),
]


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    install_error_handler(app)

    @app.get("/raise/{index}")
    async def raise_(index: int) -> None:
        raise CASES[index][0]

    return TestClient(app)


@pytest.mark.parametrize("index", range(len(CASES)), ids=[type(c[0]).__name__ for c in CASES])
def test_each_error_answers_with_its_status_and_a_readable_body(client: TestClient, index: int) -> None:
    error, status, detail = CASES[index]
    res = client.get(f"/raise/{index}")
    assert res.status_code == status
    body = res.json()
    assert body["detail"] == detail and body["code"] == type(error).__name__
    assert isinstance(body["message"], str) and body["message"] and body["message"] != detail  # Chinese wording


def test_a_rate_limit_says_when_to_retry(client: TestClient) -> None:
    limited = client.get("/raise/3")
    assert limited.headers["Retry-After"] == "12" and limited.json()["context"] == {"retry_after_s": 12}
    assert client.get("/raise/4").headers["Retry-After"] == "1"  # never "retry in 0 s"


def test_the_context_names_the_conversation(client: TestClient) -> None:
    assert client.get("/raise/1").json()["context"] == {"conversation_id": "c1", "agent_id": 7}
