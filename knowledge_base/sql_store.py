"""The live FAQ corpus in a database (SQLAlchemy Core: SQLite or PostgreSQL).

Three tables, prefixed ``kb_`` and created by this module (the knowledge base is a library: it owns its schema and
works on a database no service migrates; the router's Alembic history leaves them alone):

* ``kb_corpus``: one row, the corpus revision. Every write starts by incrementing it, which also serialises writers
  (a row lock on PostgreSQL, the write lock on SQLite), so versions, history numbers and the revision never race.
* ``kb_faq_entries``: the entries, in corpus order (``position``).
* ``kb_faq_revisions``: every saved state of every entry, written in the same transaction as the entry.

After a commit the new revision is announced through a notifier (Redis pub/sub) when one is configured.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    insert,
    make_url,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from knowledge_base.corpus import CorpusError, FaqEntry, load_corpus
from knowledge_base.notify import RedisNotifier
from knowledge_base.settings import KbSettings
from knowledge_base.store import (
    Action,
    EntryExists,
    EntryNotFound,
    ImportResult,
    Revision,
    RevisionNotFound,
    VersionConflict,
    same_content,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
SCHEMA_LOCK = 7_215_304_211  # PostgreSQL advisory lock held while the tables are created

metadata = MetaData()
corpus_table = Table(
    "kb_corpus", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("revision", BigInteger, nullable=False),
    Column("seeded_at", DateTime(timezone=True), nullable=False),
)
entries_table = Table(
    "kb_faq_entries", metadata,
    Column("id", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("category", String(64), nullable=False),
    Column("question", Text, nullable=False),
    Column("paraphrases", JSON, nullable=False),
    Column("answer", Text, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", String(40), nullable=False),  # ISO 8601 with its offset (SQLite drops tz from DateTime)
)
revisions_table = Table(
    "kb_faq_revisions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entry_id", String(64), nullable=False),
    Column("rev", Integer, nullable=False),
    Column("action", String(16), nullable=False),
    Column("username", String(64), nullable=False),
    Column("at", String(40), nullable=False),
    Column("note", Text, nullable=True),
    Column("entry", JSON, nullable=True),
    Column("corpus_revision", BigInteger, nullable=False),
    UniqueConstraint("entry_id", "rev", name="uq_kb_faq_revisions_entry_rev"),
)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL and a busy timeout (the router and the action server share the file)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    database = make_url(url).database or ""
    if database and database != ":memory:" and "mode=memory" not in url:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    return engine


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _validate(raw: dict[str, Any]) -> FaqEntry:
    label = raw.get("id") if isinstance(raw.get("id"), str) else None
    try:
        return FaqEntry.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        raise CorpusError(str(err["msg"]), entry=label, field=field) from None


def _row_values(entry: FaqEntry) -> dict[str, Any]:
    data = entry.model_dump(mode="json")
    return {k: data[k] for k in ("category", "question", "paraphrases", "answer", "tags", "version", "updated_at")}


def _entry_of(row: Any) -> FaqEntry:
    return FaqEntry.model_validate({
        "id": row.id, "category": row.category, "question": row.question, "paraphrases": list(row.paraphrases),
        "answer": row.answer, "tags": list(row.tags), "version": row.version, "updated_at": row.updated_at,
    })


def _revision_of(row: Any) -> Revision:
    return Revision(entry_id=row.entry_id, rev=row.rev, action=row.action, user=row.username, at=row.at,
                    note=row.note, entry=FaqEntry.model_validate(row.entry) if row.entry is not None else None)


class SqlCorpusStore:
    """The live corpus and its history. Thread-safe (one engine, a transaction per call); many processes may share
    one database."""

    def __init__(self, engine: Engine, *, notifier: RedisNotifier | None = None, owns_engine: bool = True) -> None:
        self.engine = engine
        self.notifier = notifier
        self._owns_engine = owns_engine
        self.create_schema()

    @classmethod
    def from_settings(cls, settings: KbSettings) -> SqlCorpusStore:
        notifier = RedisNotifier(settings.redis_url, settings.redis_channel) if settings.redis_url else None
        return cls(make_engine(settings.database_url), notifier=notifier)

    def describe(self) -> str:
        return f"sql:{self.engine.url.render_as_string(hide_password=True)}"

    def close(self) -> None:
        if self.notifier is not None:
            self.notifier.close()
        if self._owns_engine:
            self.engine.dispose()

    # ------------------------------------------------------------------ schema and seed
    def create_schema(self) -> None:
        """Create the tables if missing. Several processes may start at once: on PostgreSQL an advisory lock orders
        them; elsewhere a lost race (the table appeared meanwhile) is retried."""
        for attempt in range(5):
            try:
                with self.engine.begin() as conn:
                    if conn.dialect.name == "postgresql":
                        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK})
                    metadata.create_all(conn, checkfirst=True)
                return
            except DBAPIError:
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))

    def is_seeded(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(corpus_table.c.id)).first() is not None

    def seed(self, entries: Iterable[FaqEntry]) -> bool:
        """Fill a never-seeded store with ``entries`` (kept as they are, with a baseline revision each). Returns
        False when the store was seeded already, also by another process a moment ago."""
        if self.is_seeded():
            return False
        items = list(entries)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(corpus_table).values(id=1, revision=1, seeded_at=_now()))
                if items:
                    conn.execute(insert(entries_table), [
                        {"id": e.id, "position": i, **_row_values(e)} for i, e in enumerate(items)])
                    conn.execute(insert(revisions_table), [
                        self._revision_row(e.id, 1, "baseline", "corpus", e, None, 1) for e in items])
        except IntegrityError:
            return False
        log.info("FAQ corpus seeded with %d entries (%s)", len(items), self.describe())
        self._notify(1)
        return True

    def seed_from(self, directory: Path) -> bool:
        """Seed from a YAML corpus directory when never seeded (the directory is only read if it is needed)."""
        if self.is_seeded():
            return False
        return self.seed(load_corpus(directory))

    # ------------------------------------------------------------------ reading
    def revision(self) -> int:
        """The corpus revision: grows with every committed write (0 before the seed)."""
        with self.engine.connect() as conn:
            value = conn.execute(select(corpus_table.c.revision).where(corpus_table.c.id == 1)).scalar()
        return int(value or 0)

    def marker(self) -> str:
        return str(self.revision())

    def snapshot(self) -> tuple[str, list[FaqEntry]]:
        marker = self.marker()
        entries = self.entries()
        if not entries:
            raise CorpusError("corpus is empty", file=self.describe())
        return marker, entries

    def entries(self) -> list[FaqEntry]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(entries_table).order_by(entries_table.c.position)).all()
        return [_entry_of(r) for r in rows]

    def get(self, entry_id: str) -> FaqEntry | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(entries_table).where(entries_table.c.id == entry_id)).first()
        return _entry_of(row) if row is not None else None

    def history(self, entry_id: str) -> list[Revision]:
        """Every revision of an entry, oldest first (also of a deleted one)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(revisions_table).where(revisions_table.c.entry_id == entry_id)
                                .order_by(revisions_table.c.rev)).all()
        return [_revision_of(r) for r in rows]

    def get_revision(self, entry_id: str, rev: int) -> Revision:
        with self.engine.connect() as conn:
            row = conn.execute(select(revisions_table).where(
                revisions_table.c.entry_id == entry_id, revisions_table.c.rev == rev)).first()
        if row is None:
            raise RevisionNotFound(entry_id=entry_id, rev=rev)
        return _revision_of(row)

    # ------------------------------------------------------------------ writing
    def create(self, content: dict[str, Any], *, user: str, action: Action = "create",
               note: str | None = None) -> FaqEntry:
        """Add an entry (``content``: id and the editable fields); version 1. Raises ``EntryExists``."""
        def work(conn: Connection, revision: int) -> FaqEntry:
            if self._current(conn, content["id"]) is not None:
                raise EntryExists(entry_id=content["id"])
            return self._insert(conn, content, user=user, action=action, note=note, revision=revision)

        return self._write(work)

    def update(self, content: dict[str, Any], *, user: str, expected_version: int | None = None,
               action: Action = "update", note: str | None = None) -> FaqEntry:
        """Replace an entry's editable fields; version + 1. Raises ``EntryNotFound`` or ``VersionConflict``."""
        def work(conn: Connection, revision: int) -> FaqEntry:
            current = self._current(conn, content["id"])
            if current is None:
                raise EntryNotFound(entry_id=content["id"])
            if expected_version is not None and current.version != expected_version:
                raise VersionConflict(entry_id=current.id, expected=expected_version, current=current.version)
            return self._replace(conn, current, content, user=user, action=action, note=note, revision=revision)

        return self._write(work)

    def put(self, content: dict[str, Any], *, user: str, action: Action, note: str | None = None) -> FaqEntry:
        """Create or update, whichever applies (rollback of a deleted entry, an accepted learning proposal)."""
        def work(conn: Connection, revision: int) -> FaqEntry:
            current = self._current(conn, content["id"])
            if current is None:
                return self._insert(conn, content, user=user, action=action, note=note, revision=revision)
            return self._replace(conn, current, content, user=user, action=action, note=note, revision=revision)

        return self._write(work)

    def delete(self, entry_id: str, *, user: str) -> FaqEntry:
        """Remove an entry (its history stays, so it can be restored). Returns what was removed."""
        def work(conn: Connection, revision: int) -> FaqEntry:
            current = self._current(conn, entry_id)
            if current is None:
                raise EntryNotFound(entry_id=entry_id)
            conn.execute(entries_table.delete().where(entries_table.c.id == entry_id))
            self._append(conn, entry_id, "delete", user, None, None, revision)
            return current

        return self._write(work)

    def import_entries(self, entries: Iterable[FaqEntry | dict[str, Any]], *, user: str, note: str | None = None,
                       prune: bool = False) -> ImportResult:
        """Upsert many entries in one transaction (all or nothing; unchanged ones are left alone). With ``prune``,
        entries missing from the import are deleted."""
        items = [e.model_dump() if isinstance(e, FaqEntry) else dict(e) for e in entries]
        for raw in items:  # validate everything before writing anything
            _validate({**raw, "updated_at": raw.get("updated_at") or _now()})

        def work(conn: Connection, revision: int) -> ImportResult:
            result = ImportResult()
            current = {e.id: e for e in self._all(conn)}
            for raw in items:
                old = current.get(raw["id"])
                if old is None:
                    self._insert(conn, raw, user=user, action="import", note=note, revision=revision)
                    result.created.append(raw["id"])
                elif same_content(old, _validate({**raw, "updated_at": old.updated_at})):
                    result.unchanged.append(raw["id"])
                else:
                    self._replace(conn, old, raw, user=user, action="import", note=note, revision=revision)
                    result.updated.append(raw["id"])
            if prune:
                keep = {raw["id"] for raw in items}
                for entry_id in current:
                    if entry_id not in keep:
                        conn.execute(entries_table.delete().where(entries_table.c.id == entry_id))
                        self._append(conn, entry_id, "delete", user, None, note, revision)
                        result.deleted.append(entry_id)
            if not (result.created or result.updated or result.deleted):
                raise _NothingChanged(result)
            return result

        try:
            return self._write(work)
        except _NothingChanged as unchanged:
            return unchanged.result

    def notify(self) -> None:
        """Announce the current revision again (a publish: every process checks its index now)."""
        self._notify(self.revision())

    # ------------------------------------------------------------------ internals
    def _write(self, work: Callable[[Connection, int], T]) -> T:
        with self.engine.begin() as conn:
            bumped = conn.execute(update(corpus_table).where(corpus_table.c.id == 1)
                                  .values(revision=corpus_table.c.revision + 1))
            if bumped.rowcount != 1:
                raise CorpusError("the FAQ corpus store was never seeded", file=self.describe())
            revision = int(conn.execute(select(corpus_table.c.revision).where(corpus_table.c.id == 1)).scalar_one())
            result = work(conn, revision)
        self._notify(revision)
        return result

    def _notify(self, revision: int) -> None:
        if self.notifier is not None:
            self.notifier.notify(revision)

    @staticmethod
    def _current(conn: Connection, entry_id: str) -> FaqEntry | None:
        row = conn.execute(select(entries_table).where(entries_table.c.id == entry_id)).first()
        return _entry_of(row) if row is not None else None

    @staticmethod
    def _all(conn: Connection) -> list[FaqEntry]:
        return [_entry_of(r) for r in conn.execute(select(entries_table).order_by(entries_table.c.position)).all()]

    def _insert(self, conn: Connection, content: dict[str, Any], *, user: str, action: Action, note: str | None,
                revision: int) -> FaqEntry:
        entry = _validate({**content, "version": 1, "updated_at": _now()})
        position = conn.execute(select(func.coalesce(func.max(entries_table.c.position), -1))).scalar_one() + 1
        conn.execute(insert(entries_table).values(id=entry.id, position=position, **_row_values(entry)))
        self._append(conn, entry.id, action, user, entry, note, revision)
        return entry

    def _replace(self, conn: Connection, current: FaqEntry, content: dict[str, Any], *, user: str, action: Action,
                 note: str | None, revision: int) -> FaqEntry:
        editable = {k: v for k, v in content.items() if k not in ("version", "updated_at")}
        entry = _validate({**editable, "id": current.id, "version": current.version + 1, "updated_at": _now()})
        conn.execute(update(entries_table).where(entries_table.c.id == current.id).values(**_row_values(entry)))
        self._append(conn, entry.id, action, user, entry, note, revision)
        return entry

    def _append(self, conn: Connection, entry_id: str, action: Action, user: str, entry: FaqEntry | None,
                note: str | None, revision: int) -> None:
        last = conn.execute(select(func.max(revisions_table.c.rev))
                            .where(revisions_table.c.entry_id == entry_id)).scalar()
        conn.execute(insert(revisions_table).values(
            self._revision_row(entry_id, int(last or 0) + 1, action, user, entry, note, revision)))

    @staticmethod
    def _revision_row(entry_id: str, rev: int, action: Action, user: str, entry: FaqEntry | None, note: str | None,
                      revision: int) -> dict[str, Any]:
        return {"entry_id": entry_id, "rev": rev, "action": action, "username": user[:64],
                "at": _now().isoformat(), "note": note, "entry": entry.model_dump(mode="json") if entry else None,
                "corpus_revision": revision}


class _NothingChanged(Exception):
    """Rolls back the revision bump of an import that changed nothing (the index need not be rebuilt)."""

    def __init__(self, result: ImportResult) -> None:
        super().__init__("nothing changed")
        self.result = result
