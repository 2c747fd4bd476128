"""What one delivery attempt came to, whatever the transport."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Outcome = Literal["delivered", "retry", "give_up", "endpoint_gone"]


@dataclass(frozen=True)
class Attempt:
    outcome: Outcome
    reason: str | None = None
    status_code: int | None = None
    retry_after_s: float | None = None

    @classmethod
    def ok(cls, status_code: int | None = None) -> Attempt:
        return cls("delivered", None, status_code)

    @classmethod
    def retry(cls, reason: str, status_code: int | None = None, retry_after_s: float | None = None) -> Attempt:
        return cls("retry", reason[:500], status_code, retry_after_s)

    @classmethod
    def give_up(cls, reason: str, status_code: int | None = None) -> Attempt:
        return cls("give_up", reason[:500], status_code)
