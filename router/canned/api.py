"""Canned replies REST API (agent console): list what the caller may use; add, change and remove snippets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from router.api.deps import CannedDep
from router.canned.models import CannedReply
from router.canned.schemas import CannedIn, CannedOut, CannedPatch
from router.canned.service import may_manage
from router.clock import aware
from router.staff_scope import AgentScope, StaffScope

router = APIRouter(prefix="/api/v1/canned-replies", tags=["canned replies"])
CannedId = Annotated[int, Path(ge=1, le=2**62)]


def canned_out(row: CannedReply, who: StaffScope) -> CannedOut:
    return CannedOut(
        id=row.id,
        scope=row.scope,  # type: ignore[arg-type]  # team | personal, as written by the service
        skill=row.skill,
        owner_id=row.owner_id,
        shortcut=row.shortcut,
        title=row.title,
        text=row.text,
        editable=may_manage(who, row),
        updated_at=aware(row.updated_at),
    )


@router.get("", response_model=list[CannedOut], summary="My personal snippets and my skill groups' snippets")
def list_canned(service: CannedDep, who: AgentScope) -> list[CannedOut]:
    return [canned_out(row, who) for row in service.usable(who)]


@router.post("", response_model=CannedOut, status_code=201, summary="Add a snippet (team ones: supervisors)")
def create_canned(body: CannedIn, service: CannedDep, who: AgentScope) -> CannedOut:
    row = service.create(
        who, scope=body.scope, skill=body.skill, shortcut=body.shortcut, title=body.title, text=body.text
    )
    return canned_out(row, who)


@router.patch("/{canned_id}", response_model=CannedOut, summary="Change a snippet I may manage")
def patch_canned(canned_id: CannedId, body: CannedPatch, service: CannedDep, who: AgentScope) -> CannedOut:
    row = service.update(who, canned_id, shortcut=body.shortcut, title=body.title, text=body.text)
    return canned_out(row, who)


@router.delete("/{canned_id}", status_code=204, summary="Remove a snippet I may manage")
def delete_canned(canned_id: CannedId, service: CannedDep, who: AgentScope) -> Response:
    service.delete(who, canned_id)
    return Response(status_code=204)
