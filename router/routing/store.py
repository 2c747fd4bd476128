"""Persistence of the routing state.

The engine keeps its decision indexes in memory and writes every transition through a :class:`StoreTx`, one
database transaction per engine operation.  Accepting an offer is a conditional ``UPDATE ... WHERE state='pending'``
whose row count decides the winner, so two sessions (or two replicas) can never both hold a conversation.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from sqlalchemy import Engine, Table, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from router.db import make_session_factory
from router.routing.models import (
    ACTIVE_ITEM_STATES,
    AgentState,
    AgentStatus,
    ItemState,
    Offer,
    OfferState,
    WorkItem,
)
from router.routing.tables import Assignment, Handoff, OfferRow, User

ROUTABLE_ROLES = ("agent", "supervisor")


class StoreTx(Protocol):
    def insert_item(self, item: WorkItem) -> None: ...
    def update_item(self, item: WorkItem, *, ended_at: float | None = None) -> None: ...
    def insert_offer(self, offer: Offer) -> None: ...
    def finish_offer(self, offer_id: str, state: OfferState, now: float) -> bool: ...
    def open_assignment(self, item: WorkItem, agent_id: int, offer_id: str | None, now: float) -> None: ...
    def close_assignment(self, conversation_id: str, reason: str, now: float) -> None: ...
    def save_agent(self, agent: AgentState) -> None: ...


class RoutingStore(Protocol):
    def transaction(self) -> AbstractContextManager[StoreTx]: ...
    def load_agents(self, agent_id: int | None = None) -> list[AgentState]: ...
    def load_live(self, conversation_ids: Collection[str] | None = None) -> tuple[list[WorkItem], list[Offer]]: ...


class _NoTx:
    def insert_item(self, item: WorkItem) -> None:
        pass

    def update_item(self, item: WorkItem, *, ended_at: float | None = None) -> None:
        pass

    def insert_offer(self, offer: Offer) -> None:
        pass

    def finish_offer(self, offer_id: str, state: OfferState, now: float) -> bool:
        return True  # the engine's in-memory check is the only arbiter without a database

    def open_assignment(self, item: WorkItem, agent_id: int, offer_id: str | None, now: float) -> None:
        pass

    def close_assignment(self, conversation_id: str, reason: str, now: float) -> None:
        pass

    def save_agent(self, agent: AgentState) -> None:
        pass


class EphemeralStore:
    """No persistence: state lives only in the engine (simulation and benchmarks)."""

    @contextmanager
    def transaction(self) -> Iterator[StoreTx]:
        yield _NoTx()

    def load_agents(self, agent_id: int | None = None) -> list[AgentState]:
        return []

    def load_live(self, conversation_ids: Collection[str] | None = None) -> tuple[list[WorkItem], list[Offer]]:
        return [], []


# Routing writes go through Core statements on the tables, not ORM objects: a decision writes a few rows and reads
# none of them back in the same session, and the ORM's unit of work (flush, identity map, ORM-enabled UPDATE with
# session synchronisation) was most of a persisted decision's CPU time (py-spy, bench/router_bench.py latency).
HANDOFFS: Table = Handoff.__table__  # type: ignore[assignment]
OFFERS: Table = OfferRow.__table__  # type: ignore[assignment]
ASSIGNMENTS: Table = Assignment.__table__  # type: ignore[assignment]
USERS: Table = User.__table__  # type: ignore[assignment]


class _SqlTx:
    def __init__(self, session: Session) -> None:
        self.s = session

    def insert_item(self, item: WorkItem) -> None:
        self.s.execute(
            insert(HANDOFFS).values(
                id=item.id,
                conversation_id=item.conversation_id,
                customer_id=item.customer_id,
                channel=item.channel,
                skill=item.skill,
                language=item.language,
                priority=item.priority,
                enqueued_at=item.enqueued_at,
                state=item.state.value,
                reason=item.reason,
                note=item.note,
                agent_id=item.agent_id,
                target_agent_id=item.target_agent_id,
                transferred_from=item.transferred_from,
                excluded={str(k): v for k, v in item.excluded.items()},
                context=item.context,
            )
        )

    def update_item(self, item: WorkItem, *, ended_at: float | None = None) -> None:
        values: dict[str, object] = {
            "state": item.state.value,
            "agent_id": item.agent_id,
            "target_agent_id": item.target_agent_id,
            "excluded": {str(k): v for k, v in item.excluded.items()},
            "priority": item.priority,
            "note": item.note,
        }
        if ended_at is not None:
            values["ended_at"] = ended_at
        self.s.execute(update(HANDOFFS).where(HANDOFFS.c.id == item.id).values(**values))

    def insert_offer(self, offer: Offer) -> None:
        self.s.execute(
            insert(OFFERS).values(
                id=offer.id,
                handoff_id=offer.item_id,
                conversation_id=offer.conversation_id,
                agent_id=offer.agent_id,
                state=offer.state.value,
                created_at=offer.created_at,
                deadline=offer.deadline,
            )
        )

    def finish_offer(self, offer_id: str, state: OfferState, now: float) -> bool:
        """Atomic claim / decision: only a pending offer moves, and only one caller sees rowcount 1."""
        result = self.s.execute(
            update(OFFERS)
            .where(OFFERS.c.id == offer_id, OFFERS.c.state == OfferState.pending.value)
            .values(state=state.value, decided_at=now)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def open_assignment(self, item: WorkItem, agent_id: int, offer_id: str | None, now: float) -> None:
        self.s.execute(
            insert(ASSIGNMENTS).values(
                handoff_id=item.id,
                conversation_id=item.conversation_id,
                agent_id=agent_id,
                offer_id=offer_id,
                started_at=now,
            )
        )

    def close_assignment(self, conversation_id: str, reason: str, now: float) -> None:
        self.s.execute(
            update(ASSIGNMENTS)
            .where(ASSIGNMENTS.c.conversation_id == conversation_id, ASSIGNMENTS.c.ended_at.is_(None))
            .values(ended_at=now, end_reason=reason)
        )

    def save_agent(self, agent: AgentState) -> None:
        self.s.execute(
            update(USERS)
            .where(USERS.c.id == agent.id)
            .values(status=agent.status.value, last_assigned_at=agent.last_assigned_at or None)
        )


def agent_from_row(row: User) -> AgentState:
    return AgentState(
        id=row.id,
        name=row.display_name,
        skills={str(k): int(v) for k, v in (row.skills or {}).items()},
        languages=frozenset(row.languages or ["zh"]),
        capacity={str(k): int(v) for k, v in (row.capacity or {}).items()},
        status=AgentStatus(row.status),
        last_assigned_at=row.last_assigned_at or 0.0,
    )


class SqlStore:
    """Routing state in SQL (SQLite WAL or PostgreSQL) through SQLAlchemy 2."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions: sessionmaker[Session] = make_session_factory(engine)

    @contextmanager
    def transaction(self) -> Iterator[StoreTx]:
        with self.sessions() as session, session.begin():
            yield _SqlTx(session)

    def load_agents(self, agent_id: int | None = None) -> list[AgentState]:
        query = select(User).where(User.role.in_(ROUTABLE_ROLES), User.is_active.is_(True))
        if agent_id is not None:
            query = query.where(User.id == agent_id)
        with self.sessions() as session:
            return [agent_from_row(row) for row in session.scalars(query)]

    def load_live(self, conversation_ids: Collection[str] | None = None) -> tuple[list[WorkItem], list[Offer]]:
        """Live hand-offs (waiting, offered, assigned) and pending offers, of ``conversation_ids`` only if given."""
        live = [s.value for s in ACTIVE_ITEM_STATES]
        handoffs = select(Handoff).where(Handoff.state.in_(live)).order_by(Handoff.enqueued_at)
        pending = select(OfferRow).where(OfferRow.state == OfferState.pending.value)
        if conversation_ids is not None:
            handoffs = handoffs.where(Handoff.conversation_id.in_(list(conversation_ids)))
            pending = pending.where(OfferRow.conversation_id.in_(list(conversation_ids)))
        with self.sessions() as session:
            if self.engine.dialect.name == "postgresql":  # both queries see one snapshot (no offer half-seen)
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            items = [
                WorkItem(
                    id=h.id,
                    conversation_id=h.conversation_id,
                    customer_id=h.customer_id,
                    channel=h.channel,
                    skill=h.skill,
                    priority=h.priority,
                    enqueued_at=h.enqueued_at,
                    language=h.language,
                    state=ItemState(h.state),
                    reason=h.reason,
                    note=h.note,
                    agent_id=h.agent_id,
                    target_agent_id=h.target_agent_id,
                    transferred_from=h.transferred_from,
                    excluded={int(k): float(v) for k, v in (h.excluded or {}).items()},
                    context=dict(h.context or {}),
                )
                for h in session.scalars(handoffs)
            ]
            offers = [
                Offer(
                    id=o.id,
                    item_id=o.handoff_id,
                    conversation_id=o.conversation_id,
                    agent_id=o.agent_id,
                    created_at=o.created_at,
                    deadline=o.deadline,
                )
                for o in session.scalars(pending)
            ]
        return items, offers
