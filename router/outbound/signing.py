"""HMAC-SHA256 signatures of webhook deliveries, and the check a receiving shop runs.

The header is ``X-Kefu-Signature: t=<unix seconds>,v1=<hex hmac_sha256(secret, "<t>." + raw body)>``. A receiver
recomputes the HMAC over the raw body bytes with the secret shown at registration, compares in constant time and
rejects a timestamp more than :data:`REPLAY_WINDOW_S` away from its clock (a captured request cannot be replayed
later); the ``Idempotency-Key`` header (also the body's ``id``) lets it drop the duplicates at-least-once implies.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SIGNATURE_HEADER = "X-Kefu-Signature"
REPLAY_WINDOW_S = 300


class BadSignature(Exception):
    """The signature header is missing, malformed, wrong, or outside the replay window."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The value of the signature header for ``body`` sent at ``timestamp``."""
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


def verify(
    secret: str, header: str | None, body: bytes, *, now: float | None = None, window_s: float = REPLAY_WINDOW_S
) -> int:
    """Check a delivery as a receiver should; returns its timestamp or raises :class:`BadSignature`."""
    if not header:
        raise BadSignature("missing signature header")
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        ts = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError) as exc:
        raise BadSignature("malformed signature header") from exc
    expected = sign(secret, body, timestamp=ts).split("v1=", 1)[1]
    if not hmac.compare_digest(given, expected):
        raise BadSignature("signature does not match")
    if abs((time.time() if now is None else now) - ts) > window_s:
        raise BadSignature("timestamp outside the replay window")
    return ts
