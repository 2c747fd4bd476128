"""The one error base of the router's domains, and the one place where it becomes an HTTP answer.

A domain raises a ``KefuError`` subclass (``status`` is the HTTP status the edge answers with, ``message_zh`` what a
shopper or a member of staff reads); ``install_error_handler`` turns every one of them into the same JSON body::

    {"detail": "<English reason>", "code": "<ClassName>", "message": "<中文提示>", "context": {...}}

Handlers never catch domain errors themselves.
"""

from __future__ import annotations

from typing import ClassVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


class KefuError(Exception):
    """Base of every domain error that reaches the HTTP edge."""

    status: ClassVar[int] = 400
    message_zh: str = "操作未能完成，请稍后再试。"

    def __init__(self, message: str, *, message_zh: str | None = None, **context: object) -> None:
        super().__init__(message)
        self.message = message
        self.context = context
        if message_zh is not None:
            self.message_zh = message_zh  # a per-instance wording overrides the class default

    @property
    def code(self) -> str:
        return type(self).__name__

    def headers(self) -> dict[str, str] | None:
        return None

    def body(self) -> dict[str, object]:
        return {
            "detail": self.message,
            "code": self.code,
            "message": self.message_zh,
            "context": _jsonable(self.context),
        }


def install_error_handler(app: FastAPI) -> None:
    @app.exception_handler(KefuError)
    async def _kefu_error(_request: Request, exc: KefuError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers())


def _jsonable(context: dict[str, object]) -> dict[str, object]:
    return {k: v if isinstance(v, str | int | float | bool | None) else str(v) for k, v in context.items()}
