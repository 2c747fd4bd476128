"""Several router replicas on one PostgreSQL + Redis: a shared routing state and agent push across processes.

Each replica keeps the routing engine's in-memory indexes; the database is the source of truth, and a change log in
Redis (a stream of numbered entries) tells every replica which part of it changed:

* a *decision* (an engine call that may change routing state) runs under one Redis lock, so two replicas never decide
  at the same time.  Before deciding, the replica replays the log entries it has not seen; afterwards it appends what
  its call committed (the conversations and agents it wrote, recorded by :class:`RecordingStore`), if anything.
* replaying an entry reloads only those conversations and agents from the database (``RoutingEngine.refresh``), so
  an entry applied twice does no harm; a gap in the numbering (log trimmed, Redis restarted) means a full reload.
* *reads* (queue position, an agent's offers, agents online) take no Redis lock: they replay the log and answer from
  memory; ``next_due`` answers from memory alone (the timer loop asks on the event loop).  A timer tick takes the
  lock only when one of this replica's timers is due.
* the engine's events (offers, assignments, ...) go to their subscribers (agent push, gateway) once the Redis lock is
  released, in order and before the call returns: the gateway's database writes do not hold up the other replicas.
* claims stay atomic in SQL (conditional UPDATE of the offer row), so even a lock lost to a timeout cannot let two
  agents hold one conversation; when the database refuses what memory allowed (offer "decided elsewhere", a unique
  index violated) the replica reloads everything.
* a replica that (re)starts recovers under the lock and appends a "reload everything" entry: a replica killed in the
  middle of a call may have committed a change it never logged.

Agent events go through Redis pub/sub (:class:`RedisHub`), so an offer made on replica A reaches the agent whose
WebSocket is on replica B.

The package: :mod:`~router.cluster.replica` (lock, log, hand-over of events), :mod:`~router.cluster.engine` (the
engine's API, each call a read or a decision), :mod:`~router.cluster.scripts` (the Lua steps run on Redis),
:mod:`~router.cluster.hub` (agent push).
"""

from __future__ import annotations

from router.cluster.engine import ClusteredEngine
from router.cluster.hub import RedisHub
from router.cluster.replica import ClusterStats, Cursor, RoutingLockTimeout

__all__ = ["ClusterStats", "ClusteredEngine", "Cursor", "RedisHub", "RoutingLockTimeout"]
