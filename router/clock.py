"""Time helpers shared by every domain: the current instant, and reading back what the database stored.

Everything is stored in UTC. SQLite hands back naive datetimes for timezone columns and stores an aware parameter's
wall-clock digits without converting, so every value read back or bound goes through ``aware``.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(dt: datetime) -> datetime:
    """The same instant in UTC (a naive value is taken as UTC, as the database stored it)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
