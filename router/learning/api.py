"""Learning-loop proposals for content staff: list (refreshing when asked or stale), accept (corpus + live index),
reject."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.concurrency import run_in_threadpool

from router.api.deps import LearningDep
from router.auth import Principal, require_role
from router.clock import aware
from router.learning.models import Proposal
from router.learning.service import ProposalEdits

DbId = Annotated[int, Path(ge=1, le=2**62, description="row id")]  # larger ints cannot name a row
router = APIRouter(prefix="/api/v1/learning", tags=["learning"])
CurrentContent = Annotated[Principal, Depends(require_role("content"))]


class ProposalOut(BaseModel):
    id: int
    kind: Literal["new_entry", "paraphrase"]
    status: Literal["pending", "accepted", "rejected"]
    faq_id: str | None = Field(description="the entry to extend (paraphrase) or the suggested id (new_entry)")
    category: str
    question: str
    paraphrases: list[str]
    answer: str | None = Field(description="what agents answered most often (draft for a new entry)")
    similarity: float | None = Field(description="to the nearest existing entry")
    size: int = Field(description="shopper questions in the cluster")
    conversation_ids: list[str]
    created_at: datetime
    decided_at: datetime | None
    decided_by: int | None
    result_faq_id: str | None


class AcceptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    faq_id: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{1,63}$")
    question: str | None = Field(default=None, min_length=2, max_length=200)
    paraphrases: list[Annotated[str, StringConstraints(min_length=2, max_length=200)]] | None = Field(
        default=None, max_length=50
    )
    answer: str | None = Field(default=None, min_length=2, max_length=2000)
    category: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{1,31}$")


class AcceptOut(BaseModel):
    proposal: ProposalOut
    faq_id: str
    version: int


def proposal_out(p: Proposal) -> ProposalOut:
    return ProposalOut(
        id=p.id,
        kind=p.kind,  # type: ignore[arg-type]
        status=p.status,  # type: ignore[arg-type]
        faq_id=p.faq_id,
        category=p.category,
        question=p.question,
        paraphrases=list(p.paraphrases or []),
        answer=p.answer,
        similarity=p.similarity,
        size=p.size,
        conversation_ids=list(p.conversation_ids or []),
        created_at=aware(p.created_at),
        decided_at=aware(p.decided_at) if p.decided_at else None,
        decided_by=p.decided_by,
        result_faq_id=p.result_faq_id,
    )


@router.get("/proposals", response_model=list[ProposalOut], summary="Proposed FAQ entries and paraphrases")
async def list_proposals(
    service: LearningDep,
    _user: CurrentContent,
    status: Annotated[Literal["pending", "accepted", "rejected"] | None, Query()] = "pending",
    refresh: Annotated[bool, Query(description="re-mine and re-cluster the recent conversations first")] = False,
) -> list[ProposalOut]:
    if refresh:
        await run_in_threadpool(service.refresh)
    return [proposal_out(p) for p in await run_in_threadpool(service.list_proposals, status=status)]


@router.post("/proposals/refresh", response_model=list[ProposalOut], summary="Re-mine and re-cluster now")
async def refresh(service: LearningDep, _user: CurrentContent) -> list[ProposalOut]:
    return [proposal_out(p) for p in await run_in_threadpool(service.refresh)]


@router.post("/proposals/{proposal_id}/accept", response_model=AcceptOut, summary="Write to the corpus and reload")
async def accept(proposal_id: DbId, body: AcceptIn, service: LearningDep, user: CurrentContent) -> AcceptOut:
    edits = ProposalEdits(**body.model_dump())
    p, entry = await run_in_threadpool(service.accept, proposal_id, user_id=user.id, edits=edits)
    return AcceptOut(proposal=proposal_out(p), faq_id=entry.id, version=entry.version)


@router.post("/proposals/{proposal_id}/reject", response_model=ProposalOut, summary="Dismiss a proposal")
def reject(proposal_id: DbId, service: LearningDep, user: CurrentContent) -> ProposalOut:
    return proposal_out(service.reject(proposal_id, user_id=user.id))
