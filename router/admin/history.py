"""Version history of FAQ entries: one JSON snapshot file per revision under ``<kb home>/history/<entry id>/``.

Why files and not a table: the corpus itself is YAML on disk (edited, diffed and reviewed like code), so its history
lives next to it in the same durability domain and survives a database reset. Each revision file is written with
``O_EXCL`` under a per-process lock, so two writers never overwrite one revision; readers only ever see whole files.
"""

from __future__ import annotations

import difflib
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from knowledge_base.corpus import ID_PATTERN, FaqEntry

Action = Literal["baseline", "create", "update", "delete", "rollback", "import"]
TEXT_FIELDS = ("category", "question", "answer")
LIST_FIELDS = ("paraphrases", "tags")


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


class TextChange(BaseModel):
    op: Literal["equal", "insert", "delete"]
    text: str


class FieldDiff(BaseModel):
    """How one field changed between two revisions: character spans for text, added/removed items for lists."""

    field: str
    before: str | list[str] | None
    after: str | list[str] | None
    changes: list[TextChange] = []
    added: list[str] = []
    removed: list[str] = []


class UnknownEntryId(LookupError):
    """An id that no entry can have (it would not be a safe directory name): nothing is stored for it."""

    def __init__(self, *, entry_id: str) -> None:
        super().__init__(f"no FAQ entry has the id {entry_id!r}")
        self.entry_id = entry_id


class RevisionNotFound(LookupError):
    def __init__(self, *, entry_id: str, rev: int) -> None:
        super().__init__(f"revision {rev} of entry {entry_id} not found")
        self.entry_id = entry_id
        self.rev = rev


class RevisionStore:
    """Append-only revisions per entry id."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()

    def _dir(self, entry_id: str) -> Path:
        if not ID_PATTERN.match(entry_id):  # the id becomes a directory name: never let a path through
            raise UnknownEntryId(entry_id=entry_id)
        return self.root / entry_id

    def all(self, entry_id: str) -> list[Revision]:
        """Every revision of an entry, oldest first."""
        try:
            d = self._dir(entry_id)
        except UnknownEntryId:
            return []
        if not d.is_dir():
            return []
        files = sorted(p for p in d.iterdir() if p.suffix == ".json" and not p.name.startswith("."))
        return [Revision.model_validate_json(p.read_text(encoding="utf-8")) for p in files]

    def get(self, entry_id: str, rev: int) -> Revision:
        path = self._dir(entry_id) / f"{rev:06d}.json"
        if not path.is_file():
            raise RevisionNotFound(entry_id=entry_id, rev=rev)
        return Revision.model_validate_json(path.read_text(encoding="utf-8"))

    def entry_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and ID_PATTERN.match(p.name))

    def append(
        self, *, entry_id: str, action: Action, user: str, entry: FaqEntry | None, note: str | None = None
    ) -> Revision:
        d = self._dir(entry_id)
        with self._lock:
            d.mkdir(parents=True, exist_ok=True)
            existing = [int(p.stem) for p in d.glob("*.json") if p.stem.isdigit()]
            rev = max(existing, default=0) + 1
            revision = Revision(
                entry_id=entry_id,
                rev=rev,
                action=action,
                user=user,
                at=datetime.now(UTC).replace(microsecond=0),
                note=note,
                entry=entry,
            )
            data = revision.model_dump_json(indent=1).encode("utf-8")
            fd = os.open(d / f"{rev:06d}.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            return revision


def _entry_fields(entry: FaqEntry | None) -> dict[str, Any]:
    if entry is None:
        return {}
    return entry.model_dump(include=set(TEXT_FIELDS + LIST_FIELDS))


def diff_entries(before: FaqEntry | None, after: FaqEntry | None) -> list[FieldDiff]:
    """Field-by-field differences; unchanged fields are left out. Text is compared character by character (Chinese
    has no spaces to split words on)."""
    a, b = _entry_fields(before), _entry_fields(after)
    out: list[FieldDiff] = []
    for name in TEXT_FIELDS:
        old, new = a.get(name), b.get(name)
        if old == new:
            continue
        changes: list[TextChange] = []
        matcher = difflib.SequenceMatcher(a=old or "", b=new or "", autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                changes.append(TextChange(op="equal", text=(old or "")[i1:i2]))
                continue
            if i2 > i1:
                changes.append(TextChange(op="delete", text=(old or "")[i1:i2]))
            if j2 > j1:
                changes.append(TextChange(op="insert", text=(new or "")[j1:j2]))
        out.append(FieldDiff(field=name, before=old, after=new, changes=changes))
    for name in LIST_FIELDS:
        old_l, new_l = list(a.get(name) or []), list(b.get(name) or [])
        if old_l == new_l:
            continue
        out.append(
            FieldDiff(
                field=name,
                before=old_l if before else None,
                after=new_l if after else None,
                added=[s for s in new_l if s not in old_l],
                removed=[s for s in old_l if s not in new_l],
            )
        )
    return out
