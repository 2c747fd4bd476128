"""A real router app over a throw-away SQLite database holding the FAQ corpus (seeded from the repository's YAML,
which is only read) and a real knowledge base."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from knowledge_base.service import KnowledgeBase
from knowledge_base.settings import PACKAGE_DIR, ROOT, KbSettings
from router.admin.faq_service import make_faq_admin
from router.app import create_app
from router.auth import create_user
from router.settings import Settings

PASSWORD = "kefu-test-password"


def kb_settings(root: Path) -> KbSettings:
    """The settings `make run` uses, but a private database and artifacts home (saved builds copied: a speed-up)."""
    built = ROOT / "var" / "kb" / "builds"
    if built.is_dir() and not (root / "home").exists():
        shutil.copytree(built, root / "home" / "builds")
    return KbSettings(home=root / "home", corpus_dir=PACKAGE_DIR / "data", store="sql",
                      database_url=f"sqlite:///{root / 'kefu.db'}", redis_url=None)


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    knowledge = KnowledgeBase(kb_settings(tmp_path_factory.mktemp("faq")), watch=False)
    try:
        yield knowledge
    finally:
        knowledge.close()


@pytest.fixture(scope="module")
def client(kb: KnowledgeBase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    db = tmp_path_factory.mktemp("db") / "router.db"
    app = create_app(Settings(database_url=f"sqlite:///{db}"), kb=kb, faq_admin=make_faq_admin(kb))
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

