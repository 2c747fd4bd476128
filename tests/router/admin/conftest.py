"""A real router app over a throw-away copy of the FAQ corpus, a real knowledge base and a real SQLite database."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from knowledge_base.service import KnowledgeBase
from knowledge_base.settings import PACKAGE_DIR, KbSettings
from router.admin.faq_api import make_faq_admin
from router.app import create_app
from router.auth import create_user
from router.settings import Settings

PASSWORD = "kefu-test-password"


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    root = tmp_path_factory.mktemp("faq")
    shutil.copytree(PACKAGE_DIR / "data", root / "corpus")
    knowledge = KnowledgeBase(KbSettings(home=root / "home", corpus_dir=root / "corpus"), watch=False)
    try:
        yield knowledge
    finally:
        knowledge.close()


@pytest.fixture(scope="module")
def client(kb: KnowledgeBase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    db = tmp_path_factory.mktemp("db") / "router.db"
    app = create_app(Settings(database_url=f"sqlite:///{db}"))
    app.state.kb = kb
    app.state.faq_admin = make_faq_admin(kb)
    with TestClient(app) as test_client:
        sessions = app.state.sessions
        create_user(sessions, username="editor", password=PASSWORD, display_name="内容小王", role="content")
        create_user(sessions, username="agent1", password=PASSWORD, display_name="客服小李", role="agent",
                    skills={"general": 3})
        yield test_client


def login(client: TestClient, username: str) -> dict[str, str]:
    res = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert res.status_code == 200, res.text
    return {"Authorization": f"Bearer {res.json()['access_token']}"}


@pytest.fixture(scope="module")
def editor(client: TestClient) -> dict[str, str]:
    return login(client, "editor")


@pytest.fixture(scope="module")
def agent(client: TestClient) -> dict[str, str]:
    return login(client, "agent1")


def corpus_dir(kb: KnowledgeBase) -> Path:
    return kb.settings.corpus_dir
