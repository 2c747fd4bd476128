"""Where the FAQ corpus lives, behind one small interface.

* :class:`YamlCorpusStore`: a directory of YAML files. The repository's ``knowledge_base/data`` is one: the seed of
  an empty database and the import/export format. Read-only at run time; :meth:`YamlCorpusStore.export` writes one.
* :class:`~knowledge_base.sql_store.SqlCorpusStore`: the live corpus in a database (SQLite or PostgreSQL) with every
  entry's revision history and a corpus revision number that grows with every write, so each process that answers
  FAQs can tell that it must re-index.

>>> store = open_store(KbSettings(store="yaml"))   # knowledge_base.stores  # doctest: +SKIP
>>> len(store.entries())                           # doctest: +SKIP
50
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from knowledge_base.corpus import FaqEntry, corpus_files, corpus_fingerprint, load_corpus, save_file

Action = Literal["baseline", "create", "update", "delete", "rollback", "import"]
EDITABLE = ("category", "question", "paraphrases", "answer", "tags")


class CorpusStore(Protocol):
    """What a knowledge base reads: the entries, and a marker that changes whenever they do."""

    def marker(self) -> str:
        """Cheap to call (polled every second): equal markers mean an unchanged corpus."""
        ...

    def snapshot(self) -> tuple[str, list[FaqEntry]]:
        """The marker and the entries (read in that order: a later change is caught by the next poll)."""
        ...

    def entries(self) -> list[FaqEntry]: ...

    def describe(self) -> str: ...


# ------------------------------------------------------------------ errors of a writable store
class EntryNotFound(LookupError):
    def __init__(self, *, entry_id: str) -> None:
        super().__init__(f"FAQ entry {entry_id} not found")
        self.entry_id = entry_id


class EntryExists(ValueError):
    def __init__(self, *, entry_id: str) -> None:
        super().__init__(f"FAQ entry {entry_id} already exists")
        self.entry_id = entry_id


class VersionConflict(ValueError):
    """Someone else saved the entry since the editor loaded it."""

    def __init__(self, *, entry_id: str, expected: int, current: int) -> None:
        super().__init__(f"FAQ entry {entry_id} is at version {current}, not {expected}")
        self.entry_id = entry_id
        self.expected = expected
        self.current = current


class RevisionNotFound(LookupError):
    def __init__(self, *, entry_id: str, rev: int) -> None:
        super().__init__(f"revision {rev} of entry {entry_id} not found")
        self.entry_id = entry_id
        self.rev = rev


class Revision(BaseModel):
    """One saved state of an entry (``entry`` is None for a deletion)."""

    model_config = ConfigDict(frozen=True)

    entry_id: str
    rev: int
    action: Action
    user: str
    at: datetime
    note: str | None = None
    entry: FaqEntry | None


class ImportResult(BaseModel):
    created: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    deleted: list[str] = []


def same_content(a: FaqEntry, b: FaqEntry) -> bool:
    """Equal in what an editor can change (id, version and timestamp aside)."""
    keys = set(EDITABLE)
    return a.model_dump(include=keys) == b.model_dump(include=keys)


def category_file(category: str) -> str:
    """The YAML file an entry of ``category`` is exported to (the seed keeps one file per category)."""
    return (re.sub(r"[^a-z0-9_]+", "_", category.lower()).strip("_") or "misc") + ".yml"


# ------------------------------------------------------------------ YAML directory
class YamlCorpusStore:
    """A directory of ``*.yml`` corpus files, watched by their names, sizes and mtimes."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def marker(self) -> str:
        return corpus_fingerprint(self.directory)

    def snapshot(self) -> tuple[str, list[FaqEntry]]:
        marker = self.marker()
        return marker, load_corpus(self.directory)

    def entries(self) -> list[FaqEntry]:
        return load_corpus(self.directory)

    def describe(self) -> str:
        return f"yaml:{self.directory}"

    def export(self, entries: list[FaqEntry]) -> list[Path]:
        """Write ``entries`` as one file per category (in their order) and remove the directory's other corpus
        files, so an entry that changed category is not left behind twice. Each file is replaced atomically."""
        by_file: dict[str, list[FaqEntry]] = {}
        for e in entries:
            by_file.setdefault(category_file(e.category), []).append(e)
        self.directory.mkdir(parents=True, exist_ok=True)
        written = []
        for name, group in sorted(by_file.items()):
            save_file(self.directory / name, group)
            written.append(self.directory / name)
        for stale in corpus_files(self.directory):
            if stale.name not in by_file:
                stale.unlink()
        return written
