"""Reservation: the offer lifecycle pending -> accepted | rejected | timed_out | rescinded, and the timers
(offer deadlines, relaxation steps, re-offer cool-downs) that the engine fires from ``tick``."""

from __future__ import annotations

import heapq
import itertools
import uuid
from dataclasses import dataclass

from router.routing.errors import NotYourOffer, OfferNotPending, UnknownOffer
from router.routing.models import AgentState, Offer, OfferState, WorkItem

FINAL_STATES = frozenset({OfferState.accepted, OfferState.rejected, OfferState.timed_out, OfferState.rescinded})


class OfferBook:
    """Pending offers, indexed by id, by agent and by work item (an item has at most one pending offer)."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.pending: dict[str, Offer] = {}
        self.by_agent: dict[int, set[str]] = {}
        self.by_item: dict[str, str] = {}
        # recently decided offers, so a late accept gets "timed_out" rather than "unknown"
        self._decided: dict[str, Offer] = {}

    def create(self, item: WorkItem, agent: AgentState, now: float) -> Offer:
        if item.id in self.by_item:
            raise OfferNotPending(self.by_item[item.id], "pending for this conversation already")
        offer = Offer(
            id=uuid.uuid4().hex,
            item_id=item.id,
            conversation_id=item.conversation_id,
            agent_id=agent.id,
            created_at=now,
            deadline=now + self.timeout_s,
        )
        self.restore(offer)
        return offer

    def restore(self, offer: Offer) -> None:
        self.pending[offer.id] = offer
        self.by_agent.setdefault(offer.agent_id, set()).add(offer.id)
        self.by_item[offer.item_id] = offer.id

    def get_pending(self, offer_id: str, agent_id: int | None = None) -> Offer:
        """The pending offer, checking it belongs to ``agent_id`` when given."""
        offer = self.pending.get(offer_id)
        if offer is None:
            decided = self._decided.get(offer_id)
            if decided is None:
                raise UnknownOffer(offer_id)
            if agent_id is not None and decided.agent_id != agent_id:
                raise NotYourOffer(offer_id, agent_id)
            raise OfferNotPending(offer_id, decided.state.value)
        if agent_id is not None and offer.agent_id != agent_id:
            raise NotYourOffer(offer_id, agent_id)
        return offer

    def decide(self, offer: Offer, state: OfferState, now: float) -> Offer:
        """Move a pending offer to a final state and drop it from the indexes."""
        if state not in FINAL_STATES:
            raise ValueError(f"{state} is not a final offer state")
        if offer.state is not OfferState.pending:
            raise OfferNotPending(offer.id, offer.state.value)
        offer.state = state
        offer.decided_at = now
        self.pending.pop(offer.id, None)
        self.by_agent.get(offer.agent_id, set()).discard(offer.id)
        if self.by_item.get(offer.item_id) == offer.id:
            del self.by_item[offer.item_id]
        self._decided[offer.id] = offer
        if len(self._decided) > 10_000:  # keep a bounded memory of past decisions
            for key in list(self._decided)[:5_000]:
                del self._decided[key]
        return offer

    def drop(self, offer: Offer) -> None:
        """Forget a pending offer without deciding it (its state is reloaded from the store right after)."""
        self.pending.pop(offer.id, None)
        self.by_agent.get(offer.agent_id, set()).discard(offer.id)
        if self.by_item.get(offer.item_id) == offer.id:
            del self.by_item[offer.item_id]

    def for_agent(self, agent_id: int) -> list[Offer]:
        return [self.pending[i] for i in self.by_agent.get(agent_id, ())]

    def for_item(self, item_id: str) -> Offer | None:
        offer_id = self.by_item.get(item_id)
        return self.pending.get(offer_id) if offer_id else None


@dataclass(order=True, frozen=True)
class Timer:
    due: float
    seq: int
    kind: str  # "offer_deadline" | "relax" | "retry"
    ref: str  # offer id or work item id
    version: int = 0


class Timers:
    """A min-heap of timers; stale ones (offer decided, item moved on) are recognised and skipped by the engine."""

    def __init__(self) -> None:
        self._heap: list[Timer] = []
        self._seq = itertools.count()

    def add(self, due: float, kind: str, ref: str, version: int = 0) -> None:
        heapq.heappush(self._heap, Timer(due, next(self._seq), kind, ref, version))

    def next_due(self) -> float | None:
        # read from the event loop while worker threads pop: the heap may empty between a check and the read
        try:
            return self._heap[0].due
        except IndexError:
            return None

    def pop_due(self, now: float) -> Timer | None:
        if self._heap and self._heap[0].due <= now:
            return heapq.heappop(self._heap)
        return None

    def __len__(self) -> int:
        return len(self._heap)
