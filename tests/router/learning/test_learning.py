"""The learning loop end to end: generated conversations the bot could not answer -> clusters (USE embeddings +
agglomerative clustering) -> proposals -> accepted through the API into the live corpus (a private database) and
the live knowledge base (a real KnowledgeBase, rebuilt on reload)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from knowledge_base.service import KnowledgeBase
from knowledge_base.settings import KbSettings
from router.db import session_scope
from router.demo.traffic import UNKNOWN_THEMES, TrafficWriter
from router.learning.mining import collect_candidates, is_question
from router.learning.models import Proposal
from router.learning.service import InvalidProposalEdit, LearningService
from router.settings import Settings
from tests.router.ops_support import add_user, bearer, migrated, ops_app, running

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime.now(UTC)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    base = tmp_path_factory.mktemp("kb")
    home = base / "home"
    built = ROOT / "var" / "kb" / "builds"
    if built.is_dir():  # only a speed-up: builds are keyed by corpus content and embedder
        shutil.copytree(built, home / "builds")
    # the live corpus in a private database, seeded from the repository's YAML (which is only read)
    knowledge = KnowledgeBase(KbSettings(home=home, corpus_dir=ROOT / "knowledge_base" / "data", store="sql",
                                         database_url=f"sqlite:///{base / 'kefu.db'}", redis_url=None), watch=False)
    yield knowledge
    knowledge.close()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    engine, sessions = migrated(tmp_path_factory.mktemp("learning"))
    writer = TrafficWriter(sessions, seed=4)
    writer.write(260, start=NOW - timedelta(days=3), end=NOW - timedelta(minutes=5), mix={
        "faq_answered": 0.35, "faq_clarified": 0.1, "order_status": 0.1, "unknown_to_agent": 0.35,
        "angry_complaint": 0.1,
    })
    yield engine, sessions
    engine.dispose()


def test_mining_finds_the_questions_behind_weak_answers(db) -> None:
    engine, sessions = db
    with session_scope(sessions) as s:
        found = collect_candidates(s, since=NOW - timedelta(days=4), until=NOW)
    unknown = {q for _c, qs, _a in UNKNOWN_THEMES.values() for q in qs}
    texts = {c.text for c in found}
    assert texts & unknown
    assert all(is_question(t) for t in texts)
    assert "人工客服" not in texts and "转人工" not in texts
    agent_answers = {a for _c, _q, a in UNKNOWN_THEMES.values()}
    by_text = [c for c in found if c.text in unknown]
    assert by_text and all(c.agent_answer in agent_answers for c in by_text)
    assert {c.reason for c in found} <= {"decline", "fallback", "clarify", "low_score"}


def test_proposals_accept_into_corpus_and_live_index(db, kb: KnowledgeBase) -> None:
    engine, sessions = db
    settings = Settings(database_url="sqlite://", learning_min_cluster=3)
    content = add_user(sessions, "editor", role="content", status="offline")
    agent = add_user(sessions, "agent1", role="agent")
    h = bearer(settings, content, "editor", "content")
    with running(ops_app(settings, engine, kb=kb)) as client:
        assert client.get("/api/v1/learning/proposals",
                          headers=bearer(settings, agent, "agent1", "agent")).status_code == 403
        listed = client.get("/api/v1/learning/proposals", params={"refresh": "true"}, headers=h)
        assert listed.status_code == 200, listed.text
        proposals = listed.json()
        assert proposals and all(p["status"] == "pending" and p["size"] >= 3 for p in proposals)
        # re-mining the same conversations keeps the proposals (and their ids) staff are looking at
        again = client.post("/api/v1/learning/proposals/refresh", headers=h).json()
        assert sorted(p["id"] for p in again) == sorted(p["id"] for p in proposals)

        def theme_of(p: dict[str, Any]) -> set[str]:
            asked = {p["question"], *p["paraphrases"]}
            return {name for name, (_c, qs, _a) in UNKNOWN_THEMES.items() if asked & set(qs)}

        special = [p for p in proposals if theme_of(p) == {"special_invoice"}]
        trade_in = [p for p in proposals if theme_of(p) == {"trade_in"}]
        assert special and trade_in
        # close to the existing invoice entry: offered as new ways of asking it
        assert special[0]["kind"] == "paraphrase" and special[0]["faq_id"] == "invoice_apply"
        # nothing like it in the FAQ: a new entry, drafted from what agents answered
        new = trade_in[0]
        assert new["kind"] == "new_entry" and new["faq_id"].startswith("learned_")
        assert new["answer"] == UNKNOWN_THEMES["trade_in"][2]
        assert new["similarity"] < settings.learning_paraphrase_score

        before = kb.search("旧手机能抵钱吗", k=1)[0].id
        assert before != "trade_in"
        accepted = client.post(f"/api/v1/learning/proposals/{new['id']}/accept", headers=h,
                               json={"faq_id": "trade_in", "category": "after_sales"})
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["faq_id"] == "trade_in" and accepted.json()["version"] == 1
        assert accepted.json()["proposal"]["status"] == "accepted"
        # the live index answers from the new entry at once
        entry = kb.entry("trade_in")
        assert entry is not None and "learned" in entry.tags
        assert kb.search("旧手机能抵钱吗", k=1)[0].id == "trade_in"
        assert any(e.id == "trade_in" for e in kb.store.entries())
        assert [r.action for r in kb.store.history("trade_in")] == ["create"]

        old_version = kb.entry("invoice_apply").version  # type: ignore[union-attr]
        para = client.post(f"/api/v1/learning/proposals/{special[0]['id']}/accept", headers=h, json={})
        assert para.status_code == 200, para.text
        invoice = kb.entry("invoice_apply")
        assert invoice is not None and invoice.version == old_version + 1
        assert set(special[0]["paraphrases"]) <= set(invoice.sentences())

        again = client.post(f"/api/v1/learning/proposals/{new['id']}/accept", headers=h, json={})
        assert again.status_code == 409
        assert client.post("/api/v1/learning/proposals/99999/reject", headers=h).status_code == 404
        rest = [p for p in proposals if p["id"] not in (new["id"], special[0]["id"])]
        if rest:
            rejected = client.post(f"/api/v1/learning/proposals/{rest[0]['id']}/reject", headers=h)
            assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
        bad_id = client.post(f"/api/v1/learning/proposals/{proposals[0]['id']}/accept", headers=h,
                             json={"faq_id": "Not An Id"})
        assert bad_id.status_code == 422

        # decided questions are never proposed again
        refreshed = client.post("/api/v1/learning/proposals/refresh", headers=h).json()
        decided = {new["question"], special[0]["question"]}
        assert not any(p["question"] in decided for p in refreshed)
        history = client.get("/api/v1/learning/proposals", params={"status": "accepted"}, headers=h).json()
        assert {p["result_faq_id"] for p in history} == {"trade_in", "invoice_apply"}


def test_new_entry_without_answer_is_refused(db, kb: KnowledgeBase) -> None:
    engine, sessions = db
    service = LearningService(session_factory=sessions, kb=lambda: kb)
    with session_scope(sessions) as s:
        row = Proposal(kind="new_entry", status="pending", faq_id="learned_test", category="general",
                       question="可以开发票到公司邮箱吗", paraphrases=[], answer=None, size=3, message_ids=[],
                       conversation_ids=[])
        s.add(row)
        s.flush()
        pid = row.id
    with pytest.raises(InvalidProposalEdit):
        service.accept(pid, user_id=1)
    with session_scope(sessions) as s:
        assert s.scalar(select(Proposal.status).where(Proposal.id == pid)) == "pending"
    assert kb.entry("learned_test") is None
