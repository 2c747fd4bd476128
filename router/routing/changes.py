"""What an engine operation changed in the store, so other replicas can reload just that (see ``router.cluster``).

:class:`RecordingStore` wraps a :class:`RoutingStore`; every write through one of its transactions names the
conversation or agent it touched, and the names of a transaction count only once it committed (a rolled-back claim
changed nothing).  The result is a :class:`Change`, small enough to put on a change log.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from router.routing.models import AgentState, Offer, OfferState, WorkItem
from router.routing.store import RoutingStore, StoreTx


@dataclass
class Change:
    """Conversations and agents whose stored routing state changed; ``full`` means "reload everything"."""

    conversations: set[str] = field(default_factory=set)
    agents: set[int] = field(default_factory=set)
    decided: dict[str, OfferState] = field(default_factory=dict)  # offer id -> final state
    full: bool = False

    def __bool__(self) -> bool:
        return self.full or bool(self.conversations or self.agents or self.decided)

    def merge(self, other: Change) -> None:
        self.conversations |= other.conversations
        self.agents |= other.agents
        self.decided.update(other.decided)
        self.full = self.full or other.full

    def to_json(self) -> str:
        return json.dumps(
            {
                "c": sorted(self.conversations),
                "a": sorted(self.agents),
                "d": {k: v.value for k, v in self.decided.items()},
                "f": self.full,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Change:
        data = json.loads(raw)
        return cls(
            conversations=set(data.get("c", ())),
            agents={int(a) for a in data.get("a", ())},
            decided={k: OfferState(v) for k, v in data.get("d", {}).items()},
            full=bool(data.get("f", False)),
        )


class _RecordingTx:
    def __init__(self, tx: StoreTx, change: Change) -> None:
        self._tx = tx
        self._change = change

    def insert_item(self, item: WorkItem) -> None:
        self._tx.insert_item(item)
        self._change.conversations.add(item.conversation_id)

    def update_item(self, item: WorkItem, *, ended_at: float | None = None) -> None:
        self._tx.update_item(item, ended_at=ended_at)
        self._change.conversations.add(item.conversation_id)

    def insert_offer(self, offer: Offer) -> None:
        self._tx.insert_offer(offer)
        self._change.conversations.add(offer.conversation_id)

    def finish_offer(self, offer_id: str, state: OfferState, now: float) -> bool:
        won = self._tx.finish_offer(offer_id, state, now)
        if won:  # the engine updates the offer's item in the same transaction, which names the conversation
            self._change.decided[offer_id] = state
        return won

    def open_assignment(self, item: WorkItem, agent_id: int, offer_id: str | None, now: float) -> None:
        self._tx.open_assignment(item, agent_id, offer_id, now)
        self._change.conversations.add(item.conversation_id)

    def close_assignment(self, conversation_id: str, reason: str, now: float) -> None:
        self._tx.close_assignment(conversation_id, reason, now)
        self._change.conversations.add(conversation_id)

    def save_agent(self, agent: AgentState) -> None:
        self._tx.save_agent(agent)
        self._change.agents.add(agent.id)


class RecordingStore:
    """A :class:`RoutingStore` that remembers what committed transactions changed until :meth:`take` is called."""

    def __init__(self, inner: RoutingStore) -> None:
        self.inner = inner
        self._mutex = threading.Lock()
        self._committed = Change()

    @contextmanager
    def transaction(self) -> Iterator[StoreTx]:
        change = Change()
        with self.inner.transaction() as tx:
            yield _RecordingTx(tx, change)
        with self._mutex:  # reached only once the inner transaction committed
            self._committed.merge(change)

    def take(self) -> Change:
        """What committed since the last call."""
        with self._mutex:
            change, self._committed = self._committed, Change()
        return change

    def load_agents(self, agent_id: int | None = None) -> list[AgentState]:
        return self.inner.load_agents(agent_id)

    def load_live(self, conversation_ids: Collection[str] | None = None) -> tuple[list[WorkItem], list[Offer]]:
        return self.inner.load_live(conversation_ids)
