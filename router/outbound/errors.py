"""Domain errors of outbound delivery (the API layer maps them to HTTP statuses)."""

from __future__ import annotations


class OutboundError(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsafeUrl(OutboundError):
    """A callback URL the router refuses to call (scheme, credentials, private address)."""

    status = 422

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"callback URL refused: {reason}")
        self.url = url
        self.reason = reason


class UnknownChannel(OutboundError):
    status = 404


class NotRetryable(OutboundError):
    """Only a dead-lettered delivery can be sent again."""

    status = 409
