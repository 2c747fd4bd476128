"""FAQ admin REST API (``/api/v1/admin/faq``) for content staff: entries, history, diff, rollback, duplicates,
import/export, "try a question" and publish. Roles: content and admin; agents get 403.

Domain errors of :mod:`router.admin.faq_service` become HTTP statuses here and nowhere below.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from knowledge_base.corpus import CorpusError, FaqEntry
from knowledge_base.settings import KbSettings, get_kb_settings
from knowledge_base.sql_store import SqlCorpusStore
from knowledge_base.stores import open_store
from router.admin.faq_service import (
    DuplicateWarning,
    EntryDraft,
    EntryExists,
    EntryNotFound,
    FaqAdmin,
    ImportRejected,
    InvalidEntry,
    VersionConflict,
)
from router.admin.history import FieldDiff, Revision, RevisionNotFound, UnknownEntryId
from router.admin.transfer import ImportFormatError, export_csv, export_xlsx
from router.auth import Principal, require_role

router = APIRouter(prefix="/api/v1/admin/faq", tags=["faq admin"])
ContentUser = Annotated[Principal, Depends(require_role("content"))]
MAX_UPLOAD_BYTES = 5 * 1024 * 1024


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


def get_faq_admin(request: Request) -> FaqAdmin:
    """``app.state.faq_admin`` if the factory built one, else one over ``app.state.kb`` or the process-wide KB."""
    admin: FaqAdmin | None = getattr(request.app.state, "faq_admin", None)
    if admin is None:
        admin = request.app.state.faq_admin = make_faq_admin(getattr(request.app.state, "kb", None))
    return admin


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


@contextmanager
def _domain_errors() -> Iterator[None]:
    try:
        yield
    except (EntryNotFound, RevisionNotFound, UnknownEntryId) as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    except EntryExists as exc:
        raise HTTPException(status_code=409, detail={"message": "该 id 已存在", "entry_id": exc.entry_id}) from exc
    except VersionConflict as exc:
        raise HTTPException(
            status_code=409,
            detail={
                "message": "该条目已被他人修改，请刷新后再编辑",
                "entry_id": exc.entry_id,
                "expected": exc.expected,
                "current": exc.current,
            },
        ) from exc
    except InvalidEntry as exc:
        raise HTTPException(status_code=422, detail=[_error(exc)]) from exc
    except ImportRejected as exc:
        raise HTTPException(status_code=422, detail=[_error(e) for e in exc.errors]) from exc
    except ImportFormatError as exc:
        raise HTTPException(status_code=422, detail=[{"message": exc.message, "file": exc.filename}]) from exc
    except CorpusError as exc:
        raise HTTPException(
            status_code=500, detail={"message": exc.message, "file": exc.file, "entry": exc.entry, "field": exc.field}
        ) from exc


def _error(exc: InvalidEntry) -> dict[str, Any]:
    return {"message": exc.message, "field": exc.field, "entry_id": exc.entry_id, "row": exc.row}


def _warnings(admin: FaqAdmin, entry: FaqEntry) -> list[DuplicateWarning]:
    return admin.duplicates(entry_id=entry.id, sentences=entry.sentences())


# ------------------------------------------------------------------ routes
@router.get("/entries", response_model=EntryList, summary="List / search / filter FAQ entries")
def list_entries(
    admin: AdminDep, user: ContentUser, q: str | None = None, category: str | None = None, tag: str | None = None
) -> EntryList:
    with _domain_errors():
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
    with _domain_errors():
        return admin.get(entry_id)


@router.post("/entries", response_model=EntryOut, status_code=201, summary="Add an entry")
def create_entry(body: EntryCreate, admin: AdminDep, user: ContentUser) -> EntryOut:
    with _domain_errors():
        entry = admin.create(body.id, body.draft(), user=user.username)
    return EntryOut(entry=entry, warnings=_warnings(admin, entry))


@router.put("/entries/{entry_id}", response_model=EntryOut, summary="Edit an entry (answer, paraphrases, ...)")
def update_entry(entry_id: str, body: EntryUpdate, admin: AdminDep, user: ContentUser) -> EntryOut:
    with _domain_errors():
        entry = admin.update(entry_id, body.draft(), user=user.username, expected_version=body.version)
    return EntryOut(entry=entry, warnings=_warnings(admin, entry))


@router.delete("/entries/{entry_id}", status_code=204, summary="Delete an entry (restorable from its history)")
def delete_entry(entry_id: str, admin: AdminDep, user: ContentUser) -> None:
    with _domain_errors():
        admin.delete(entry_id, user=user.username)


@router.get("/entries/{entry_id}/history", response_model=list[Revision], summary="Revisions, oldest first")
def history(entry_id: str, admin: AdminDep, user: ContentUser) -> list[Revision]:
    with _domain_errors():
        return admin.revisions(entry_id)


@router.get("/entries/{entry_id}/diff", response_model=list[FieldDiff], summary="Diff of two revisions")
def diff(
    entry_id: str,
    admin: AdminDep,
    user: ContentUser,
    from_rev: Annotated[int, Query(ge=1, le=2**62)],  # larger ints overflow the database's integers
    to_rev: Annotated[int | None, Query(ge=1, le=2**62, description="default: the entry as it is now")] = None,
) -> list[FieldDiff]:
    with _domain_errors():
        return admin.diff(entry_id, from_rev, to_rev)


@router.post("/entries/{entry_id}/rollback", response_model=EntryOut, summary="Restore a revision as a new version")
def rollback(entry_id: str, body: RollbackIn, admin: AdminDep, user: ContentUser) -> EntryOut:
    with _domain_errors():
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
    with _domain_errors():
        return PublishOut.model_validate(admin.publish())


@router.get("/export", summary="Download the whole FAQ as CSV or XLSX")
def export(admin: AdminDep, user: ContentUser, format: Literal["csv", "xlsx"] = "csv") -> Response:
    with _domain_errors():
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
        raise HTTPException(status_code=413, detail="文件过大（上限 5 MB）")
    with _domain_errors():
        report = admin.import_file(data, filename=file.filename or "upload.csv", user=user.username)
    return ImportOut(created=report.created, updated=report.updated, unchanged=report.unchanged)
