"""Wire models of the canned-replies API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from router.gateway.schemas import MAX_TEXT_CHARS
from router.tickets.schemas import Category

Scope = Literal["team", "personal"]
# letters, digits, - and _ or Chinese characters: what follows "/" in the reply box
SHORTCUT_PATTERN = r"^[A-Za-z0-9_\-\u4e00-\u9fff]{1,32}$"


class CannedOut(BaseModel):
    id: int
    scope: Scope
    skill: str | None
    owner_id: int | None
    shortcut: str
    title: str
    text: str
    editable: bool = Field(description="whether the caller may change or delete it")
    updated_at: datetime


def _stripped(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


class CannedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Scope = "personal"
    skill: Category | None = Field(default=None, description="the skill group of a team snippet")
    shortcut: str = Field(pattern=SHORTCUT_PATTERN, description="typed after / in the reply box")
    title: str = Field(min_length=1, max_length=60)
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)

    @field_validator("title", "text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        return _stripped(value)


class CannedPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shortcut: str | None = Field(default=None, pattern=SHORTCUT_PATTERN)
    title: str | None = Field(default=None, min_length=1, max_length=60)
    text: str | None = Field(default=None, min_length=1, max_length=MAX_TEXT_CHARS)

    @field_validator("title", "text")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        return None if value is None else _stripped(value)
