"""Jobs that must run on one replica at a time (alert evaluation, ticket sweeps, idle close, learning mining).

On PostgreSQL a run takes a session-level advisory lock named after the job on a connection of its own
(``pg_try_advisory_lock``); a replica that finds it taken skips that round, the holder's next round comes soon
enough.  The lock lives as long as that connection: a replica killed mid-run loses it the moment PostgreSQL notices
the connection gone, so a job is never stuck behind a dead holder.  A run that outlives its lock (a network
partition) is not fenced off by the lock itself; the unique keys of migration 0006 make such a late duplicate
impossible (one ticket per conversation, one alert per signal and cool-down slot), and every job is idempotent.

On SQLite the router is one process, so a job simply runs.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import Engine, text

log = logging.getLogger(__name__)
T = TypeVar("T")


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a job name (the same on every replica)."""
    return int.from_bytes(hashlib.blake2b(f"kefu:job:{name}".encode(), digest_size=8).digest(), "big", signed=True)


@dataclass
class JobLocks:
    """Run a job only where its cluster-wide lock could be taken (see the module doc)."""

    engine: Engine
    ran: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def clustered(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def run(self, name: str, work: Callable[[], T]) -> tuple[bool, T | None]:
        """``(True, result)`` when this replica ran ``work``; ``(False, None)`` when another replica is running it."""
        if not self.clustered:
            return self._ran(name, work)
        key = lock_key(name)
        with self.engine.connect() as conn:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
            conn.commit()
            if not got:
                self.skipped[name] = self.skipped.get(name, 0) + 1
                log.debug("%s is running on another replica; skipping this round", name)
                return False, None
            try:
                return self._ran(name, work)
            finally:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
                except Exception:  # connection lost: PostgreSQL released the lock with it
                    log.warning("could not release the %s lock (connection lost; released with it)", name)
                    conn.invalidate()

    def _ran(self, name: str, work: Callable[[], T]) -> tuple[bool, T]:
        result = work()
        self.ran[name] = self.ran.get(name, 0) + 1
        return True, result
