"""FAQ administration: edit the live FAQ corpus with version history, duplicate warnings, import/export and publish.

The corpus lives in the database (``knowledge_base.sql_store.SqlCorpusStore``): every write is one transaction that
changes the entry, appends its revision and raises the corpus revision, which every process answering FAQs (router
replicas, action servers) watches, through Redis notices or by polling, and re-indexes from in the background. The
repository's YAML corpus is only the seed and the import/export format: nothing here writes it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, Protocol, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from knowledge_base.corpus import CorpusError, FaqEntry
from knowledge_base.settings import KbSettings, get_kb_settings
from knowledge_base.sql_store import SqlCorpusStore
from knowledge_base.store import EntryExists, EntryNotFound, RevisionNotFound, VersionConflict
from knowledge_base.stores import open_store
from router.admin.errors import (
    BrokenCorpus,
    FaqEntryExists,
    FaqEntryNotFound,
    FaqRevisionNotFound,
    FaqVersionConflict,
    ImportRejected,
    InvalidEntry,
)
from router.admin.history import Action, FieldDiff, Revision, diff_entries
from router.admin.transfer import read_table

__all__ = ["DuplicateWarning", "EntryDraft", "FaqAdmin", "ImportReport", "KnowledgeBaseLike", "make_faq_admin"]
DUPLICATE_THRESHOLD = 0.9
P = ParamSpec("P")
R = TypeVar("R")


class KnowledgeBaseLike(Protocol):
    """What the admin needs from ``knowledge_base.KnowledgeBase``."""

    def reload(self, wait: bool = False) -> None: ...

    def ask(self, query: str) -> Any: ...

    def search(self, query: str, k: int = 5) -> list[Any]: ...

    @property
    def index(self) -> Any: ...

    @property
    def marker(self) -> str: ...


# ------------------------------------------------------------------ the library's errors as this domain's
def _translated(method: Callable[P, R]) -> Callable[P, R]:
    """Raise the knowledge-base library's errors as the FAQ admin's (router.admin.errors): the library may not know
    the router, and only the domain's errors reach the HTTP edge."""

    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except EntryNotFound as exc:
            raise FaqEntryNotFound(exc.entry_id) from exc
        except RevisionNotFound as exc:
            raise FaqRevisionNotFound(exc.entry_id, exc.rev) from exc
        except EntryExists as exc:
            raise FaqEntryExists(exc.entry_id) from exc
        except VersionConflict as exc:
            raise FaqVersionConflict(exc.entry_id, expected=exc.expected, current=exc.current) from exc
        except CorpusError as exc:
            raise BrokenCorpus(exc.message, file=exc.file, entry=exc.entry, field=exc.field) from exc

    return call


# ------------------------------------------------------------------ value objects
class EntryDraft(BaseModel):
    """The editable fields of an entry (id, version and updated_at are managed)."""

    model_config = ConfigDict(extra="forbid")

    category: str
    question: str
    paraphrases: list[str] = []
    answer: str
    tags: list[str] = []


class DuplicateWarning(BaseModel):
    entry_id: str | None
    sentence: str
    other_id: str
    other_sentence: str
    similarity: float


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def _validate(raw: dict[str, Any], *, row: int | None = None) -> FaqEntry:
    """Validate editable content the way the corpus loader will (a fixed timestamp stands in for the managed one)."""
    try:
        return FaqEntry.model_validate({**raw, "updated_at": "2000-01-01T00:00:00Z"})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or None
        raise InvalidEntry(message=str(err["msg"]), field=where, entry_id=raw.get("id"), row=row) from None


class FaqAdmin:
    """Edit the FAQ corpus through the store; every write leaves a revision behind."""

    def __init__(self, *, store: SqlCorpusStore, kb: KnowledgeBaseLike | None = None,
                 kb_provider: Callable[[], KnowledgeBaseLike] | None = None,
                 duplicate_threshold: float = DUPLICATE_THRESHOLD) -> None:
        """``kb`` or ``kb_provider`` (called on first use: loading the encoder takes seconds, editing does not
        need it)."""
        self.store = store
        self._kb = kb
        self._kb_provider = kb_provider
        self._kb_lock = threading.Lock()
        self.duplicate_threshold = duplicate_threshold

    @property
    def kb(self) -> KnowledgeBaseLike | None:
        if self._kb is None and self._kb_provider is not None:
            with self._kb_lock:
                if self._kb is None:
                    self._kb = self._kb_provider()
        return self._kb

    # ------------------------------------------------------------------ reading
    @_translated
    def entries(self) -> list[FaqEntry]:
        return self.store.entries()

    def find(self, *, query: str | None = None, category: str | None = None, tag: str | None = None) -> list[FaqEntry]:
        """Filter by category / tag and a case-insensitive substring of id, question, paraphrases, answer or tags."""
        out = []
        needle = (query or "").strip().lower()
        for e in self.entries():
            if category and e.category != category:
                continue
            if tag and tag not in e.tags:
                continue
            if needle:
                hay = "\n".join([e.id, e.question, e.answer, *e.paraphrases, *e.tags]).lower()
                if needle not in hay:
                    continue
            out.append(e)
        return out

    @_translated
    def get(self, entry_id: str) -> FaqEntry:
        entry = self.store.get(entry_id)
        if entry is None:
            raise FaqEntryNotFound(entry_id)
        return entry

    # ------------------------------------------------------------------ writing
    def _after_write(self) -> None:
        if self._kb is not None:  # a knowledge base not loaded yet will read the new corpus when it loads
            self._kb.reload()  # background; ``publish`` waits for it. Other processes hear of it from the store

    @_translated
    def create(self, entry_id: str, draft: EntryDraft, *, user: str) -> FaqEntry:
        _validate({"id": entry_id, **draft.model_dump()})
        stored = self.store.create({"id": entry_id, **draft.model_dump()}, user=user)
        self._after_write()
        return stored

    @_translated
    def update(self, entry_id: str, draft: EntryDraft, *, user: str, expected_version: int | None = None,
               action: Action = "update", note: str | None = None) -> FaqEntry:
        _validate({"id": entry_id, **draft.model_dump()})
        stored = self.store.update({"id": entry_id, **draft.model_dump()}, user=user,
                                   expected_version=expected_version, action=action, note=note)
        self._after_write()
        return stored

    @_translated
    def delete(self, entry_id: str, *, user: str) -> None:
        self.store.delete(entry_id, user=user)
        self._after_write()

    # ------------------------------------------------------------------ history
    @_translated
    def revisions(self, entry_id: str) -> list[Revision]:
        revs = self.store.history(entry_id)
        if not revs:
            self.get(entry_id)  # unknown ids are a 404
        return revs

    @_translated
    def diff(self, entry_id: str, from_rev: int, to_rev: int | None = None) -> list[FieldDiff]:
        """Changes from revision ``from_rev`` to ``to_rev`` (default: the entry as it is now)."""
        before = self.store.get_revision(entry_id, from_rev).entry
        after = self.store.get(entry_id) if to_rev is None else self.store.get_revision(entry_id, to_rev).entry
        return diff_entries(before, after)

    @_translated
    def rollback(self, entry_id: str, rev: int, *, user: str) -> FaqEntry:
        """Restore the content of revision ``rev`` as a new version (also brings a deleted entry back)."""
        target = self.store.get_revision(entry_id, rev).entry
        if target is None:
            raise InvalidEntry(message="该版本是删除记录，无法回滚到它", field=None, entry_id=entry_id)
        content = target.model_dump(include={"id", "category", "question", "paraphrases", "answer", "tags"})
        stored = self.store.put(content, user=user, action="rollback", note=f"回滚到版本记录 #{rev}")
        self._after_write()
        return stored

    # ------------------------------------------------------------------ import
    @_translated
    def import_file(self, data: bytes, *, filename: str, user: str) -> ImportReport:
        """All or nothing: every row is validated before anything is written (one transaction)."""
        rows = read_table(data, filename=filename)
        errors: list[InvalidEntry] = []
        seen: dict[str, int] = {}
        valid: list[FaqEntry] = []
        for number, raw in rows:
            try:
                entry = _validate(raw, row=number)
            except InvalidEntry as exc:
                errors.append(exc)
                continue
            if entry.id in seen:
                errors.append(InvalidEntry(message=f"与第 {seen[entry.id]} 行的 id 重复", field="id",
                                           entry_id=entry.id, row=number))
                continue
            seen[entry.id] = number
            valid.append(entry)
        if errors:
            raise ImportRejected(errors=errors)
        content = [e.model_dump(include={"id", "category", "question", "paraphrases", "answer", "tags"})
                   for e in valid]
        result = self.store.import_entries(content, user=user, note=filename)
        if result.created or result.updated:
            self._after_write()
        return ImportReport(created=result.created, updated=result.updated, unchanged=result.unchanged)

    # ------------------------------------------------------------------ knowledge base
    @_translated
    def publish(self) -> dict[str, Any]:
        """Re-index now, tell every other process to check, and report what the live index holds (raises
        ``BrokenCorpus`` for a broken corpus)."""
        if self.kb is None:
            raise RuntimeError("no knowledge base attached")
        self.kb.reload(wait=True)
        self.store.notify()  # every other process checks its index now (they also poll the revision)
        idx = self.kb.index
        corpus = {e.id: e.version for e in self.entries()}
        live = {e.id: e.version for e in idx.entries}
        marker = self.kb.marker
        return {"index_key": idx.key, "entries": len(idx.entries), "sentences": len(idx.sentences),
                "in_sync": corpus == live, "corpus_revision": int(marker) if marker.isdigit() else None}

    def try_question(self, question: str) -> dict[str, Any]:
        """What the bot would do with ``question``: the decision, its confidence and the top 3 with scores."""
        if self.kb is None:
            raise RuntimeError("no knowledge base attached")
        answer = self.kb.ask(question)
        top = self.kb.search(question, 3)
        return {"decision": answer.decision, "confidence": round(float(answer.confidence), 4),
                "hit_id": answer.hit.id if answer.hit else None, "top": [h.model_dump() for h in top]}

    def duplicates(self, *, entry_id: str | None = None, sentences: list[str] | None = None,
                   limit: int = 200) -> list[DuplicateWarning]:
        """Near-duplicate questions across entries, by cosine similarity of sentence embeddings in the live index.

        With ``sentences`` (a draft being edited): those sentences against every other entry. Without: every pair
        of sentences of different entries in the corpus."""
        if self.kb is None:
            return []
        idx = self.kb.index
        emb: np.ndarray = idx.emb
        owner = idx.sent_entry
        ids = [e.id for e in idx.entries]
        out: list[DuplicateWarning] = []
        if sentences is not None:
            clean = [s.strip() for s in sentences if s and s.strip()]
            if not clean:
                return []
            q = idx.embedder.encode(clean)
            sims = q @ emb.T
            for i, s in enumerate(clean):
                for j in np.argsort(-sims[i])[:10]:
                    other = ids[int(owner[j])]
                    if other == entry_id or float(sims[i, j]) < self.duplicate_threshold:
                        continue
                    out.append(DuplicateWarning(entry_id=entry_id, sentence=s, other_id=other,
                                                other_sentence=idx.sentences[int(j)],
                                                similarity=round(float(sims[i, j]), 4)))
            return out[:limit]
        pairs: list[tuple[float, int, int]] = []
        block = 1024  # row blocks keep memory at block x n even for a corpus of many thousand sentences
        for start in range(0, emb.shape[0], block):
            sims = emb[start:start + block] @ emb.T
            mask = (sims >= self.duplicate_threshold) & (owner[start:start + block, None] < owner[None, :])
            rows, cols = np.nonzero(mask)
            pairs.extend((float(sims[r, c]), start + int(r), int(c)) for r, c in zip(rows, cols, strict=True))
        pairs.sort(key=lambda p: -p[0])
        for sim, i, j in pairs[:limit]:
            out.append(DuplicateWarning(entry_id=ids[int(owner[i])], sentence=idx.sentences[i],
                                        other_id=ids[int(owner[j])], other_sentence=idx.sentences[j],
                                        similarity=round(sim, 4)))
        return out


def make_faq_admin(kb: Any | None = None, *, store: SqlCorpusStore | None = None,
                   settings: KbSettings | None = None) -> FaqAdmin:
    """The admin over the live corpus in the database of the knowledge-base settings (seeded from the repository's
    YAML on first use). Without ``kb`` the process-wide knowledge base is loaded on first use ("try a question",
    duplicates, publish); listing and editing work before that."""
    if settings is None:
        settings = kb.settings if kb is not None and hasattr(kb, "settings") else get_kb_settings()
    if store is None:
        kb_store = getattr(kb, "store", None)
        if isinstance(kb_store, SqlCorpusStore):
            store = kb_store
        else:
            if settings.store != "sql":
                raise RuntimeError("the FAQ admin edits the corpus in a database: set KEFU_KB_STORE=sql")
            opened = open_store(settings)
            assert isinstance(opened, SqlCorpusStore)
            store = opened
    provider = None
    if kb is None:
        from knowledge_base import get_knowledge_base

        provider = get_knowledge_base
    return FaqAdmin(store=store, kb=kb, kb_provider=provider)
