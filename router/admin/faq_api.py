"""FAQ admin REST API (``/api/v1/admin/faq``) for content staff: entries, history, diff, rollback, duplicates,
import/export, "try a question" and publish. Roles: content and admin; agents get 403.

Domain errors of :mod:`router.admin.faq_service` (router/admin/errors.py) are answered by the app's one error
handler (router/errors.py).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Query, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from knowledge_base.corpus import FaqEntry
from router.admin.errors import UploadTooLarge
from router.admin.faq_service import DuplicateWarning, EntryDraft, FaqAdmin, make_faq_admin
from router.admin.history import FieldDiff, Revision
from router.admin.transfer import export_csv, export_xlsx
from router.api.deps import ServicesDep
from router.auth import Principal, require_role

router = APIRouter(prefix="/api/v1/admin/faq", tags=["faq admin"])
ContentUser = Annotated[Principal, Depends(require_role("content"))]
MAX_UPLOAD_BYTES = 5 * 1024 * 1024


@functools.cache
def _process_faq_admin() -> FaqAdmin:
    """One admin per process over the process-wide knowledge base (as ``knowledge_base.get_knowledge_base``)."""
    return make_faq_admin()


def get_faq_admin(services: ServicesDep) -> FaqAdmin:
    """The app's admin (built in the lifespan when the app was given a knowledge base), else the process-wide one,
    which opens the corpus store on first use (it seeds the database: not a cost every app start should pay)."""
    return services.faq_admin or _process_faq_admin()


AdminDep = Annotated[FaqAdmin, Depends(get_faq_admin)]


# ------------------------------------------------------------------ wire models
class EntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: str = Field(max_length=64)
    question: str = Field(max_length=500)
    paraphrases: list[str] = Field(default_factory=list, max_length=200)
    answer: str = Field(max_length=5000)
    tags: list[str] = Field(default_factory=list, max_length=30)

    def draft(self) -> EntryDraft:
        return EntryDraft(**self.model_dump(include={"category", "question", "paraphrases", "answer", "tags"}))


class EntryCreate(EntryIn):
    id: str = Field(max_length=64)


class EntryUpdate(EntryIn):
    version: int | None = Field(default=None, description="the version the editor loaded; 409 if it changed since")


class EntryOut(BaseModel):
    entry: FaqEntry
    warnings: list[DuplicateWarning] = []


class EntryList(BaseModel):
    entries: list[FaqEntry]
    total: int
    categories: list[str]
    tags: list[str]


class RollbackIn(BaseModel):
    rev: int = Field(ge=1, le=2**62)  # beyond what the database can hold: 422, not a 500


class DuplicateCheckIn(BaseModel):
    entry_id: str | None = None
    sentences: list[str] = Field(max_length=200)


class TryIn(BaseModel):
    question: str = Field(min_length=1, max_length=500)


class TryHit(BaseModel):
    id: str
    question: str
    answer: str
    category: str
    score: float


class TryOut(BaseModel):
    decision: Literal["answer", "clarify", "decline"]
    confidence: float
    hit_id: str | None
    top: list[TryHit]


class PublishOut(BaseModel):
    index_key: str
    entries: int
    sentences: int
    in_sync: bool
    corpus_revision: int | None = Field(default=None, description="the corpus revision the live index was built from")


class ImportOut(BaseModel):
    created: list[str]
    updated: list[str]
    unchanged: list[str]


def _warnings(admin: FaqAdmin, entry: FaqEntry) -> list[DuplicateWarning]:
    return admin.duplicates(entry_id=entry.id, sentences=entry.sentences())


# ------------------------------------------------------------------ routes
@router.get("/entries", response_model=EntryList, summary="List / search / filter FAQ entries")
def list_entries(
    admin: AdminDep, user: ContentUser, q: str | None = None, category: str | None = None, tag: str | None = None
) -> EntryList:
    everything = admin.entries()
    found = admin.find(query=q, category=category, tag=tag)
    return EntryList(
        entries=found,
        total=len(everything),
        categories=sorted({e.category for e in everything}),
        tags=sorted({t for e in everything for t in e.tags}),
    )


@router.get("/entries/{entry_id}", response_model=FaqEntry)
def get_entry(entry_id: str, admin: AdminDep, user: ContentUser) -> FaqEntry:
    return admin.get(entry_id)


@router.post("/entries", response_model=EntryOut, status_code=201, summary="Add an entry")
def create_entry(body: EntryCreate, admin: AdminDep, user: ContentUser) -> EntryOut:
    entry = admin.create(body.id, body.draft(), user=user.username)
    return EntryOut(entry=entry, warnings=_warnings(admin, entry))


@router.put("/entries/{entry_id}", response_model=EntryOut, summary="Edit an entry (answer, paraphrases, ...)")
def update_entry(entry_id: str, body: EntryUpdate, admin: AdminDep, user: ContentUser) -> EntryOut:
    entry = admin.update(entry_id, body.draft(), user=user.username, expected_version=body.version)
    return EntryOut(entry=entry, warnings=_warnings(admin, entry))


@router.delete("/entries/{entry_id}", status_code=204, summary="Delete an entry (restorable from its history)")
def delete_entry(entry_id: str, admin: AdminDep, user: ContentUser) -> None:
    admin.delete(entry_id, user=user.username)


@router.get("/entries/{entry_id}/history", response_model=list[Revision], summary="Revisions, oldest first")
def history(entry_id: str, admin: AdminDep, user: ContentUser) -> list[Revision]:
    return admin.revisions(entry_id)


@router.get("/entries/{entry_id}/diff", response_model=list[FieldDiff], summary="Diff of two revisions")
def diff(
    entry_id: str,
    admin: AdminDep,
    user: ContentUser,
    from_rev: Annotated[int, Query(ge=1, le=2**62)],  # larger ints overflow the database's integers
    to_rev: Annotated[int | None, Query(ge=1, le=2**62, description="default: the entry as it is now")] = None,
) -> list[FieldDiff]:
    return admin.diff(entry_id, from_rev, to_rev)


@router.post("/entries/{entry_id}/rollback", response_model=EntryOut, summary="Restore a revision as a new version")
def rollback(entry_id: str, body: RollbackIn, admin: AdminDep, user: ContentUser) -> EntryOut:
    entry = admin.rollback(entry_id, body.rev, user=user.username)
    return EntryOut(entry=entry, warnings=_warnings(admin, entry))


@router.get("/duplicates", response_model=list[DuplicateWarning], summary="Near-duplicate questions across entries")
def duplicates(
    admin: AdminDep, user: ContentUser, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> list[DuplicateWarning]:
    return admin.duplicates(limit=limit)


@router.post("/duplicates/check", response_model=list[DuplicateWarning], summary="Check a draft for duplicates")
def check_duplicates(body: DuplicateCheckIn, admin: AdminDep, user: ContentUser) -> list[DuplicateWarning]:
    return admin.duplicates(entry_id=body.entry_id, sentences=body.sentences)


@router.post("/try", response_model=TryOut, summary="Try a question: the live index's decision and top 3")
def try_question(body: TryIn, admin: AdminDep, user: ContentUser) -> TryOut:
    return TryOut.model_validate(admin.try_question(body.question))


@router.post("/publish", response_model=PublishOut, summary="Re-index now (live, no restart)")
def publish(admin: AdminDep, user: ContentUser) -> PublishOut:
    return PublishOut.model_validate(admin.publish())


@router.get("/export", summary="Download the whole FAQ as CSV or XLSX")
def export(admin: AdminDep, user: ContentUser, format: Literal["csv", "xlsx"] = "csv") -> Response:
    entries = admin.entries()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    if format == "xlsx":
        return Response(
            export_xlsx(entries),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="faq-{stamp}.xlsx"'},
        )
    return Response(
        export_csv(entries),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="faq-{stamp}.csv"'},
    )


@router.post("/import", response_model=ImportOut, summary="Import CSV / XLSX (all rows valid or nothing written)")
def import_file(admin: AdminDep, user: ContentUser, file: Annotated[UploadFile, File()]) -> ImportOut:
    data = file.file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadTooLarge(MAX_UPLOAD_BYTES)
    report = admin.import_file(data, filename=file.filename or "upload.csv", user=user.username)
    return ImportOut(created=report.created, updated=report.updated, unchanged=report.unchanged)
