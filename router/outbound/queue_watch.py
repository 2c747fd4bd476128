"""Queue place and ETA for waiting app shoppers: announced when they change (web shoppers poll their state).

Every replica may run the watcher: a conditional UPDATE of ``outbound_queue_notices`` lets exactly one of them write
the notice for a given change, in the same transaction as its outbox row.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from router.clock import utcnow
from router.conversations.models import Conversation
from router.db import session_scope
from router.gateway.ports import HandoffQueue, QueuePlace
from router.outbound.models import OutboundEndpoint, QueueNotice
from router.outbound.outbox import OutboxWriter

log = logging.getLogger(__name__)


def eta_minutes(eta_s: float | None) -> int:
    return -1 if eta_s is None else max(1, round(eta_s / 60))


def announce(
    sessions: sessionmaker[Session], writer: OutboxWriter, conversation_id: str, status: QueuePlace
) -> bool:
    """Write a ``queue_update`` delivery if the place or the ETA (in minutes) changed since the last one."""
    eta = eta_minutes(status.eta_s)
    try:
        with session_scope(sessions) as session:
            conv = session.get(Conversation, conversation_id)
            if conv is None or conv.status != "open" or conv.owner != "queue":
                return False
            changed = session.execute(
                update(QueueNotice)
                .where(
                    QueueNotice.conversation_id == conversation_id,
                    (QueueNotice.position != status.position) | (QueueNotice.eta_min != eta),
                )
                .values(position=status.position, eta_min=eta, updated_at=utcnow())
            ).rowcount  # type: ignore[attr-defined]
            if not changed:
                if session.get(QueueNotice, conversation_id) is not None:
                    return False
                session.add(QueueNotice(conversation_id=conversation_id, position=status.position, eta_min=eta))
                session.flush()
            writer.notify(
                session, conv, "queue_update", data={"position": status.position, "eta_s": status.eta_s}
            )
            return True
    except IntegrityError:  # another replica announced the same first place
        return False


def waiting_app_conversations(sessions: sessionmaker[Session]) -> list[str]:
    with session_scope(sessions) as session:
        if session.scalar(select(OutboundEndpoint.id).where(OutboundEndpoint.channel == "app")) is None:
            return []
        ids = list(
            session.scalars(
                select(Conversation.id).where(
                    Conversation.status == "open", Conversation.owner == "queue", Conversation.channel == "app"
                )
            ).all()
        )
        # forget places of conversations no longer waiting, so a later transfer announces its new place
        session.execute(delete(QueueNotice).where(QueueNotice.conversation_id.not_in(ids)))
        return ids


def watch_once(sessions: sessionmaker[Session], writer: OutboxWriter, queue: HandoffQueue) -> int:
    announced = 0
    for conversation_id in waiting_app_conversations(sessions):
        status = queue.queue_status(conversation_id)
        if status is not None and announce(sessions, writer, conversation_id, status):
            announced += 1
    return announced


async def watch_queue(
    sessions: sessionmaker[Session], writer: OutboxWriter, queue: HandoffQueue, interval_s: float
) -> None:
    while True:
        try:
            await asyncio.to_thread(watch_once, sessions, writer, queue)
        except Exception:  # database briefly away: the next round catches up
            log.exception("queue notices failed")
        await asyncio.sleep(interval_s)
