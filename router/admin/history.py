"""Version history of FAQ entries: the revisions are kept by the corpus store (``knowledge_base.sql_store``, in the
same transaction as each edit); this module compares two of them field by field for the admin's diff view.
"""

from __future__ import annotations

import difflib
from typing import Any, Literal

from pydantic import BaseModel

from knowledge_base.corpus import FaqEntry
from knowledge_base.store import Action, Revision, RevisionNotFound

__all__ = ["Action", "FieldDiff", "Revision", "RevisionNotFound", "TextChange", "diff_entries"]
TEXT_FIELDS = ("category", "question", "answer")
LIST_FIELDS = ("paraphrases", "tags")


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
