"""The corpus stores on real databases (SQLite and PostgreSQL): seed once, edits with versions and history, the
corpus revision, all-or-nothing imports, YAML export round trip, Redis notices, and knowledge bases in other
"processes" (their own engines) re-indexing after a write."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from knowledge_base.corpus import CorpusError, FaqEntry, load_corpus
from knowledge_base.embedder import Embedder
from knowledge_base.notify import RedisListener, RedisNotifier
from knowledge_base.service import KnowledgeBase
from knowledge_base.sql_store import SqlCorpusStore, make_engine
from knowledge_base.store import (
    EntryExists,
    EntryNotFound,
    RevisionNotFound,
    VersionConflict,
    YamlCorpusStore,
)
from knowledge_base.stores import open_store
from tests.router.ops_support import fresh_pg_url

from .conftest import REAL_CORPUS, small_settings

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"
EDITABLE = {"id", "category", "question", "paraphrases", "answer", "tags"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.pg)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'kefu.db'}"
        return
    with fresh_pg_url() as url:
        yield url


@pytest.fixture
def store(db_url: str) -> Iterator[SqlCorpusStore]:
    s = SqlCorpusStore(make_engine(db_url))
    s.seed_from(REAL_CORPUS)
    yield s
    s.close()


def content(entry: FaqEntry, **changes: object) -> dict[str, object]:
    return {**entry.model_dump(include=EDITABLE), **changes}


def test_seed_happens_once_even_when_processes_race(db_url: str) -> None:
    stores = [SqlCorpusStore(make_engine(db_url)) for _ in range(4)]
    results: list[bool] = []
    threads = [threading.Thread(target=lambda s=s: results.append(s.seed_from(REAL_CORPUS))) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]
    seed = load_corpus(REAL_CORPUS)
    assert stores[0].entries() == seed  # same order, versions and timestamps as the YAML
    assert stores[0].revision() == 1 and stores[0].marker() == "1"
    assert [r.action for r in stores[0].history("refund_time")] == ["baseline"]
    assert stores[0].seed_from(REAL_CORPUS / "missing") is False  # seeded: the seed directory is not even read
    for s in stores:
        s.close()


def test_edits_versions_history_and_the_corpus_revision(store: SqlCorpusStore) -> None:
    refund = store.get("refund_time")
    assert refund is not None and store.revision() == 1
    updated = store.update(content(refund, answer="您好，退款 1-3 个工作日原路退回。"), user="editor",
                           expected_version=refund.version)
    assert updated.version == refund.version + 1 and updated.updated_at >= refund.updated_at
    assert store.revision() == 2
    with pytest.raises(VersionConflict) as conflict:
        store.update(content(refund, answer="过期的编辑内容"), user="other", expected_version=refund.version)
    assert conflict.value.current == refund.version + 1
    assert store.revision() == 2  # a refused write changes nothing, not even the revision
    with pytest.raises(EntryNotFound):
        store.update({**content(refund), "id": "no_such_entry"}, user="editor")
    with pytest.raises(EntryExists):
        store.create(content(refund), user="editor")
    with pytest.raises(CorpusError) as bad:
        store.create({**content(refund), "id": "new_one", "answer": " "}, user="editor")
    assert bad.value.field == "answer" and store.get("new_one") is None

    created = store.create({**content(refund), "id": "engraving", "question": "可以刻字吗？"}, user="editor")
    assert created.version == 1 and store.entries()[-1].id == "engraving"  # new entries go last
    store.delete("engraving", user="editor")
    assert store.get("engraving") is None and store.revision() == 4
    history = store.history("engraving")
    assert [(r.rev, r.action, r.user) for r in history] == [(1, "create", "editor"), (2, "delete", "editor")]
    assert history[1].entry is None and store.get_revision("engraving", 1).entry == created
    with pytest.raises(RevisionNotFound):
        store.get_revision("engraving", 9)
    restored = store.put(content(created), user="editor", action="rollback", note="回滚到版本记录 #1")
    assert restored.version == 1 and store.history("engraving")[-1].note == "回滚到版本记录 #1"
    assert [r.action for r in store.history("refund_time")] == ["baseline", "update"]


def test_concurrent_editors_one_wins(store: SqlCorpusStore, db_url: str) -> None:
    """Two replicas (own engines) save the same loaded version at once: exactly one is accepted."""
    other = SqlCorpusStore(make_engine(db_url))
    entry = store.get("coupon_use")
    assert entry is not None
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def save(s: SqlCorpusStore, n: int) -> None:
        barrier.wait()
        try:
            s.update(content(entry, answer=f"您好，第 {n} 位编辑写的答案。"), user=f"e{n}",
                     expected_version=entry.version)
            outcomes.append("ok")
        except VersionConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=save, args=(store if n % 2 else other, n)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 5 + ["ok"]
    assert store.revision() == 2 and [r.rev for r in store.history("coupon_use")] == [1, 2]
    other.close()


def test_import_is_all_or_nothing_and_prunes_on_request(store: SqlCorpusStore) -> None:
    entries = store.entries()
    before = store.revision()
    unchanged = store.import_entries(entries, user="cli")
    assert len(unchanged.unchanged) == len(entries) and store.revision() == before  # nothing to re-index
    bad = [content(entries[0], answer="新的答案内容"), {**content(entries[1]), "question": ""}]
    with pytest.raises(CorpusError):
        store.import_entries(bad, user="cli")
    assert store.entries() == entries and store.revision() == before
    kept = [content(entries[0], answer="新的答案内容"), *[content(e) for e in entries[1:3]]]
    result = store.import_entries(kept, user="cli", note="part.yml", prune=True)
    assert result.updated == [entries[0].id] and result.unchanged == [entries[1].id, entries[2].id]
    assert set(result.deleted) == {e.id for e in entries[3:]}
    assert [e.id for e in store.entries()] == [e.id for e in entries[:3]]
    assert store.revision() == before + 1  # one transaction, one revision
    assert store.history(entries[0].id)[-1].note == "part.yml"


def test_yaml_export_round_trips(store: SqlCorpusStore, tmp_path: Path) -> None:
    refund = store.get("refund_time")
    assert refund is not None
    store.update(content(refund, category="general"), user="editor")  # moves to another file on export
    out = YamlCorpusStore(tmp_path / "export")
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "stale.yml").write_text("entries: []\n", encoding="utf-8")
    written = out.export(store.entries())
    assert {p.name for p in written} == {p.name for p in REAL_CORPUS.glob("*.yml")}
    assert not (tmp_path / "export" / "stale.yml").exists()
    assert {e.id: e for e in out.entries()} == {e.id: e for e in store.entries()}
    moved = {e.id: e for e in load_corpus(tmp_path / "export")}["refund_time"]
    assert moved.category == "general"


def test_open_store_follows_the_settings(tmp_path: Path, small_corpus: Path) -> None:
    yaml_store = open_store(small_settings(tmp_path, small_corpus))
    assert isinstance(yaml_store, YamlCorpusStore) and len(yaml_store.entries()) == 8
    sql = open_store(small_settings(tmp_path, small_corpus, store="sql",
                                    database_url=f"sqlite:///{tmp_path / 'kb.db'}"))
    assert isinstance(sql, SqlCorpusStore) and [e.id for e in sql.entries()] == [e.id for e in yaml_store.entries()]
    sql.close()


@pytest.mark.pg
def test_redis_notices_reach_a_listener() -> None:
    try:
        redis.Redis.from_url(REDIS).ping()
    except redis.ConnectionError:
        pytest.fail("Redis does not answer at 127.0.0.1:6379: `make services` starts it (`make test` does so first)")
    channel = f"kefu-test:kb:{uuid.uuid4().hex[:8]}"
    listener = RedisListener(REDIS, channel, fallback_poll_s=0.2)
    stop = threading.Event()
    assert listener.wait(5, stop) is True and listener.healthy  # subscribed: check once, a notice may be missed
    assert listener.wait(0.3, stop) is False
    notifier = RedisNotifier(REDIS, channel)
    threading.Timer(0.2, notifier.notify, args=(7,)).start()
    t0 = time.monotonic()
    assert listener.wait(10, stop) is True and time.monotonic() - t0 < 5
    listener.close()
    notifier.close()
    broken = RedisNotifier("redis://127.0.0.1:1/0", channel)
    broken.notify(8)  # logged, never raised: the write is committed already
    down = RedisListener("redis://127.0.0.1:1/0", channel, fallback_poll_s=0.1)
    assert down.wait(5, stop) is False and not down.healthy  # falls back to polling


def _wait_for(predicate: object, timeout: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():  # type: ignore[operator]
            return time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s")


@pytest.mark.slow
@pytest.mark.parametrize("notices", ["polling", pytest.param("redis", marks=pytest.mark.pg)])
def test_knowledge_bases_in_other_processes_follow_the_store(
    notices: str, db_url: str, small_corpus: Path, shared_home: Path, use_embedder: Embedder
) -> None:
    """A reader with its own engine (as another process has) re-indexes after a write: by polling every 0.2 s, or
    with Redis while polling only every 60 s (so only the notice can make it in time)."""
    redis_url = REDIS if notices == "redis" else None
    channel = f"kefu-test:kb:{uuid.uuid4().hex[:8]}"
    common = {"store": "sql", "database_url": db_url, "redis_url": redis_url, "redis_channel": channel,
              "reload_poll_s": 0.2 if redis_url is None else 60.0, "redis_backstop_poll_s": 60.0}
    writer = open_store(small_settings(shared_home, small_corpus, **common))
    assert isinstance(writer, SqlCorpusStore)
    reader = KnowledgeBase(small_settings(shared_home, small_corpus, **common), embedder=use_embedder, watch=True)
    try:
        time.sleep(0.5)  # the watcher subscribes
        coupon = writer.get("coupon_use")
        assert coupon is not None and reader.ask("优惠券怎么用").hit.id == "coupon_use"  # type: ignore[union-attr]
        writer.update(content(coupon, answer="您好，优惠券在结算页自动使用（新版答复）。"), user="editor")
        took = _wait_for(lambda: "新版答复" in (reader.entry("coupon_use") or coupon).answer, 10)
        assert took < 5 and reader.marker == str(writer.revision())
        # a new entry: new sentences, a real re-index in the background
        writer.create({"id": "engraving", "category": "product", "question": "商品可以刻字吗？",
                       "paraphrases": ["能定制刻字吗", "戒指内圈能刻英文名吗"],
                       "answer": "您好，部分首饰支持免费刻字。", "tags": []}, user="editor")
        _wait_for(lambda: reader.entry("engraving") is not None, 60)
        assert reader.search("戒指内圈能刻英文名吗", 1)[0].id == "engraving"
    finally:
        reader.close()
        writer.close()
