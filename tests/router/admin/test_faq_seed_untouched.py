"""The repository's YAML corpus is the seed, never the live corpus: the FAQ admin wired as `make run` wires it (the
knowledge-base settings' default corpus directory, knowledge_base/data) creates, edits, imports, rolls back, deletes
and publishes, and every file under knowledge_base/data keeps its bytes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from knowledge_base.service import KnowledgeBase
from knowledge_base.settings import PACKAGE_DIR
from router.app import create_app
from router.auth import create_user
from router.settings import Settings
from tests.router.admin.conftest import PASSWORD, kb_settings, login

pytestmark = pytest.mark.slow
API = "/api/v1/admin/faq"
SEED = PACKAGE_DIR / "data"


def snapshot() -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(SEED.rglob("*")) if p.is_file()}


def assert_untouched(before: dict[Path, bytes]) -> None:
    changed = [p.name for p, data in before.items() if not p.exists() or p.read_bytes() != data]
    added = [p.name for p in set(snapshot()) - set(before)]
    assert not changed and not added, f"the FAQ admin wrote the tracked seed: changed {changed}, added {added}"


@pytest.fixture
def seed_guard() -> Iterator[dict[Path, bytes]]:
    """The seed files as they were; put back afterwards whatever happens (the old code rewrote them)."""
    before = snapshot()
    try:
        yield before
    finally:
        for path in set(snapshot()) - set(before):
            path.unlink()
        for path, data in before.items():
            if not path.exists() or path.read_bytes() != data:
                path.write_bytes(data)


def test_admin_edits_and_publish_leave_the_seed_yaml_byte_for_byte(
    seed_guard: dict[Path, bytes], tmp_path: Path
) -> None:
    settings = kb_settings(tmp_path)
    assert settings.corpus_dir == SEED  # the default: what `make run` reads
    kb = KnowledgeBase(settings, watch=False)
    # the admin is built by the app's lifespan over the knowledge base it is given (router.services)
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'router.db'}"), kb=kb)
    try:
        with TestClient(app) as client:
            create_user(app.state.sessions, username="editor", password=PASSWORD, display_name="内容小王",
                        role="content")
            h = login(client, "editor")
            body = {"id": "engraving_custom", "category": "product", "question": "可以给商品刻字吗？",
                    "paraphrases": ["能定制刻字吗"], "answer": "您好，部分首饰支持免费刻字。", "tags": ["定制"]}
            assert client.post(f"{API}/entries", json=body, headers=h).status_code == 201
            assert_untouched(seed_guard)
            refund = client.get(f"{API}/entries/refund_time", headers=h).json()
            edited = {k: refund[k] for k in ("category", "question", "paraphrases", "answer", "tags")}
            res = client.put(f"{API}/entries/refund_time", headers=h,
                             json={**edited, "answer": "您好，退款 1-3 个工作日到账。", "version": refund["version"]})
            assert res.status_code == 200, res.text
            assert_untouched(seed_guard)
            csv = "id,category,question,answer\nnight_delivery,logistics,晚上能送货吗？,您好，部分城市支持夜间配送。\n"
            imported = client.post(f"{API}/import", headers=h, files={"file": ("faq.csv", csv.encode(), "text/csv")})
            assert imported.status_code == 200 and imported.json()["created"] == ["night_delivery"]
            assert client.post(f"{API}/entries/refund_time/rollback", json={"rev": 1}, headers=h).status_code == 200
            assert client.delete(f"{API}/entries/engraving_custom", headers=h).status_code == 204
            published = client.post(f"{API}/publish", headers=h)
            assert published.status_code == 200 and published.json()["in_sync"] is True, published.text
            assert published.json()["corpus_revision"] == 6  # the seed, then five writes
            assert kb.entry("night_delivery") is not None and kb.entry("engraving_custom") is None
    finally:
        kb.close()
    assert_untouched(seed_guard)
