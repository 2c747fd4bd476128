"""Domain errors of canned replies; the API maps ``status`` to the HTTP answer."""

from __future__ import annotations


class CannedError(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CannedNotFound(CannedError):
    status = 404

    def __init__(self, canned_id: int) -> None:
        super().__init__(f"canned reply {canned_id} not found")


class CannedForbidden(CannedError):
    status = 403


class DuplicateShortcut(CannedError):
    status = 409

    def __init__(self, shortcut: str) -> None:
        super().__init__(f"the shortcut /{shortcut} is taken already in this group")


class InvalidCanned(CannedError):
    status = 422
