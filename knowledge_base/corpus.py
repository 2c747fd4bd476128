"""The FAQ corpus: YAML files under ``knowledge_base/data/``, validated on load, written back atomically.

Each file holds ``entries:``, a list of mappings with ``id``, ``category``, ``question``, ``paraphrases``, ``answer``,
``tags``, ``version`` and ``updated_at``. Errors name the file, the entry and the field.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
RESERVED_IDS = frozenset({"off_topic"})


class CorpusError(ValueError):
    """A corpus file or entry is invalid. Carries where: file, entry id (or position) and field."""

    def __init__(self, message: str, *, file: str | None = None, entry: str | None = None, field: str | None = None):
        self.message = message
        self.file = file
        self.entry = entry
        self.field = field
        where = ", ".join(f"{k}={v}" for k, v in (("file", file), ("entry", entry), ("field", field)) if v is not None)
        super().__init__(f"{message} ({where})" if where else message)


class FaqEntry(BaseModel):
    """One FAQ entry: a standard question, how shoppers actually ask it, and the answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    category: str = Field(min_length=1)
    question: str = Field(min_length=2)
    paraphrases: list[str] = Field(default_factory=list)
    answer: str = Field(min_length=2)
    tags: list[str] = Field(default_factory=list)
    version: int = Field(default=1, ge=1)
    updated_at: datetime

    @field_validator("id")
    @classmethod
    def _check_id(cls, v: str) -> str:
        if not ID_PATTERN.match(v):
            raise ValueError("id must be lowercase ascii letters, digits and underscores, starting with a letter")
        if v in RESERVED_IDS:
            raise ValueError(f"id {v!r} is reserved")
        return v

    @field_validator("question", "answer", "category")
    @classmethod
    def _strip(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("must not be blank")
        return v

    @field_validator("paraphrases", "tags")
    @classmethod
    def _clean_list(cls, v: list[str]) -> list[str]:
        out = [s.strip() for s in v]
        if any(not s for s in out):
            raise ValueError("must not contain blank strings")
        return out

    def sentences(self) -> list[str]:
        """The standard question followed by the distinct paraphrases (what the index is built from)."""
        seen: set[str] = set()
        out: list[str] = []
        for s in [self.question, *self.paraphrases]:
            if s not in seen:
                seen.add(s)
                out.append(s)
        return out


def _entry_from_mapping(raw: Any, *, file: str, position: int) -> FaqEntry:
    label = f"#{position}"
    if not isinstance(raw, dict):
        raise CorpusError("entry must be a mapping", file=file, entry=label)
    if isinstance(raw.get("id"), str):
        label = raw["id"]
    try:
        return FaqEntry.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        raise CorpusError(err["msg"], file=file, entry=label, field=field) from None


def load_file(path: Path) -> list[FaqEntry]:
    """Load and validate one corpus file."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CorpusError(f"invalid YAML: {exc}", file=str(path)) from None
    if doc is None:
        return []
    if not isinstance(doc, dict) or not isinstance(doc.get("entries"), list):
        raise CorpusError("file must be a mapping with an 'entries' list", file=str(path), field="entries")
    return [_entry_from_mapping(raw, file=str(path), position=i) for i, raw in enumerate(doc["entries"])]


def corpus_files(corpus_dir: Path) -> list[Path]:
    return sorted(p for p in corpus_dir.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())


def load_corpus(corpus_dir: Path) -> list[FaqEntry]:
    """Load every ``*.yml`` file in ``corpus_dir``; ids must be unique across files."""
    if not corpus_dir.is_dir():
        raise CorpusError("corpus directory does not exist", file=str(corpus_dir))
    entries: list[FaqEntry] = []
    where: dict[str, str] = {}
    for path in corpus_files(corpus_dir):
        for entry in load_file(path):
            if entry.id in where:
                raise CorpusError(f"duplicate id, first defined in {where[entry.id]}", file=str(path), entry=entry.id,
                                  field="id")
            where[entry.id] = str(path)
            entries.append(entry)
    if not entries:
        raise CorpusError("corpus is empty", file=str(corpus_dir))
    return entries


def corpus_fingerprint(corpus_dir: Path) -> str:
    """Cheap change detector: names, sizes and mtimes of the corpus files (polled by the hot-reload watcher)."""
    h = hashlib.sha256()
    if corpus_dir.is_dir():
        for p in corpus_files(corpus_dir):
            st = p.stat()
            h.update(f"{p.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def corpus_hash(entries: Iterable[FaqEntry]) -> str:
    """Content hash of the sentences that get embedded (keys the embeddings cache)."""
    h = hashlib.sha256()
    for e in entries:
        h.update(e.id.encode())
        for s in e.sentences():
            h.update(b"\0" + s.encode())
        h.update(b"\n")
    return h.hexdigest()


# ------------------------------------------------------------------ writing (FAQ admin)

def _dump(entries: list[FaqEntry]) -> str:
    data = {"entries": [e.model_dump(mode="json") for e in entries]}
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000)


def save_file(path: Path, entries: list[FaqEntry]) -> None:
    """Write one corpus file atomically (readers see the old or the new file, never half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(_dump(entries))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def upsert_entry(corpus_dir: Path, entry: FaqEntry | dict[str, Any]) -> FaqEntry:
    """Insert or replace one entry. An existing entry keeps its file and gets ``version + 1``; a new one goes to
    ``<category>.yml`` with version 1. ``updated_at`` is set to now. Returns the stored entry."""
    raw = entry.model_dump() if isinstance(entry, FaqEntry) else dict(entry)
    raw.setdefault("updated_at", _now())
    candidate = _entry_from_mapping(raw, file="<upsert>", position=0)
    files = corpus_files(corpus_dir) if corpus_dir.is_dir() else []
    for path in files:
        current = load_file(path)
        for i, old in enumerate(current):
            if old.id == candidate.id:
                stored = candidate.model_copy(update={"version": old.version + 1, "updated_at": _now()})
                current[i] = stored
                save_file(path, current)
                return stored
    stored = candidate.model_copy(update={"version": 1, "updated_at": _now()})
    safe_cat = re.sub(r"[^a-z0-9_]+", "_", stored.category.lower()).strip("_") or "misc"
    path = corpus_dir / f"{safe_cat}.yml"
    current = load_file(path) if path.exists() else []
    save_file(path, [*current, stored])
    return stored


def delete_entry(corpus_dir: Path, entry_id: str) -> bool:
    """Remove one entry by id; returns False when it did not exist."""
    for path in corpus_files(corpus_dir):
        current = load_file(path)
        kept = [e for e in current if e.id != entry_id]
        if len(kept) != len(current):
            save_file(path, kept)
            return True
    return False
