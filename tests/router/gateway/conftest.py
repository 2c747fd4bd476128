"""Fixtures of the gateway's unit tests: a real migrated SQLite database, the committed sentiment model, the
gateway's own texts, and a push that records what it sends (the shopper's sockets are outside these tests)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from router.clock import utcnow
from router.conversations.models import Conversation, Customer
from router.db import session_scope
from router.gateway.delivery import Delivery
from router.gateway.texts import Texts
from router.sentiment import SentimentAnalyzer
from router.settings import Settings
from tests.router.ops_support import migrated


@dataclass
class RecordingPush:
    customers: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    agents: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    async def to_customer(self, customer_id: str, event: dict[str, Any]) -> None:
        self.customers.append((customer_id, event))

    async def to_agent(self, agent_id: int, event: dict[str, Any]) -> None:
        self.agents.append((agent_id, event))


@pytest.fixture(scope="session")
def analyzer() -> SentimentAnalyzer:
    model = Settings().sentiment_model_path
    if not model.is_file():
        pytest.fail(f"the sentiment model {model} is missing (it is part of the repository)")
    return SentimentAnalyzer.load(model)


@pytest.fixture()
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine, factory = migrated(tmp_path, "gateway.db")
    yield factory
    engine.dispose()


@pytest.fixture(scope="session")
def texts() -> Texts:
    return Texts()


@pytest.fixture()
def push() -> RecordingPush:
    return RecordingPush()


@pytest.fixture()
def delivery(push: RecordingPush) -> Delivery:
    return Delivery(push, None)


def add_conversation(sessions: sessionmaker[Session], customer_id: str, **fields: Any) -> str:
    """A customer (made if new) and one conversation of hers with ``fields``; its id."""
    with session_scope(sessions) as s:
        if s.get(Customer, customer_id) is None:
            s.add(Customer(id=customer_id))
            s.flush()
        values: dict[str, Any] = {"channel": "web", "first_channel": "web", **fields}
        if values.get("status") == "closed":
            values.setdefault("closed_at", utcnow())
        conv = Conversation(customer_id=customer_id, **values)
        s.add(conv)
        s.flush()
        return conv.id
