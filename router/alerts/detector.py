"""Sliding-window spike detection against an EWMA baseline.

For each signal the last ``window_s`` seconds are compared with a baseline learned from the ``baseline_s`` before
them, cut into ``bucket_s`` buckets and smoothed by an exponentially weighted moving average (mean and variance).
A window is a spike when it is above ``mean + k * std`` *and* at least ``min_ratio`` times the mean *and* above an
absolute floor, so a quiet night with one angry shopper does not page anybody.

Signals: ``angry`` (shoppers sending angry messages), ``topic`` (shoppers raising one FAQ topic, e.g.
``package_lost``; one series per topic) and ``queue_wait`` (mean seconds waited for an agent).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge_base.escalation import classify_text
from router.clock import aware
from router.conversations.models import Conversation, ConversationEvent, Message

if TYPE_CHECKING:
    from router.settings import Settings


@dataclass(frozen=True)
class DetectorConfig:
    window_s: float = 600.0
    bucket_s: float = 600.0
    baseline_s: float = 12 * 3600.0
    alpha: float = 0.3
    k: float = 3.0
    min_count: int = 8
    min_ratio: float = 2.0
    queue_wait_min_s: float = 120.0
    min_handoffs: int = 3

    def __post_init__(self) -> None:
        if not (0 < self.alpha <= 1):
            raise ValueError("alpha must be in (0, 1]")
        if self.window_s <= 0 or self.bucket_s <= 0 or self.baseline_s < self.bucket_s:
            raise ValueError("window and bucket must be positive and the baseline at least one bucket long")

    @classmethod
    def from_settings(cls, settings: Settings) -> DetectorConfig:
        return cls(
            window_s=settings.alert_window_s,
            bucket_s=settings.alert_bucket_s,
            baseline_s=settings.alert_baseline_s,
            alpha=settings.alert_alpha,
            k=settings.alert_k,
            min_count=settings.alert_min_count,
            min_ratio=settings.alert_min_ratio,
            queue_wait_min_s=settings.alert_queue_wait_min_s,
        )


@dataclass(frozen=True)
class Spike:
    """A detected spike (not yet stored)."""

    signal: str
    key: str
    value: float  # the window's value, in per-bucket units for counts (so it compares with the baseline)
    count: int  # shoppers (counts) or hand-offs (queue wait) in the window
    baseline: float
    std: float
    threshold: float
    window_start: datetime
    window_end: datetime
    # baseline buckets that had any data: 0 means there is no baseline to compare with (a new system, a quiet night)
    baseline_samples: int = 0


def ewma(values: Sequence[float], alpha: float) -> tuple[float, float]:
    """Exponentially weighted mean and standard deviation, oldest value first (West's incremental form)."""
    if not values:
        return 0.0, 0.0
    mean, var = float(values[0]), 0.0
    for x in values[1:]:
        diff = x - mean
        incr = alpha * diff
        mean += incr
        var = (1 - alpha) * (var + diff * incr)
    return mean, math.sqrt(max(var, 0.0))


class SpikeDetector:
    """Stateless: every evaluation re-reads the baseline period from SQL, so restarts and replicas agree."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()

    def _buckets(self, now: datetime) -> tuple[datetime, datetime, int]:
        c = self.config
        window_start = now - timedelta(seconds=c.window_s)
        n = int(c.baseline_s // c.bucket_s)
        return window_start - timedelta(seconds=n * c.bucket_s), window_start, n

    def evaluate(self, session: Session, now: datetime) -> list[Spike]:
        now = aware(now)
        start, window_start, n = self._buckets(now)
        angry, topics = self._count_series(session, start, window_start, now, n)
        spikes: list[Spike] = []
        spike = self._count_spike("angry", "", angry, window_start, now)
        if spike is not None:
            spikes.append(spike)
        for topic, series in sorted(topics.items()):
            spike = self._count_spike("topic", topic, series, window_start, now)
            if spike is not None:
                spikes.append(spike)
        wait = self._queue_wait(session, start, window_start, now, n)
        if wait is not None:
            spikes.append(wait)
        return spikes

    # ------------------------------------------------------------------ counts
    def _bucket_index(self, at: datetime, start: datetime, window_start: datetime, n: int) -> int:
        """0..n-1 for baseline buckets, n for the current window."""
        if at >= window_start:
            return n
        return min(int((at - start).total_seconds() // self.config.bucket_s), n - 1)

    def _count_series(
        self, s: Session, start: datetime, window_start: datetime, now: datetime, n: int
    ) -> tuple[list[set[str]], dict[str, list[set[str]]]]:
        """Per bucket (n baseline buckets + the window): conversations with an angry message, and per topic the
        conversations raising it (a topic is the FAQ the bot matched, else keyword rules on the text)."""
        msgs = s.execute(
            select(Message.id, Message.conversation_id, Message.text, Message.sentiment_label, Message.created_at)
            .where(Message.direction == "in", Message.created_at >= start, Message.created_at < now)
            .order_by(Message.created_at, Message.id)
        ).all()
        faq = s.execute(
            select(ConversationEvent.conversation_id, ConversationEvent.created_at, ConversationEvent.data)
            .where(ConversationEvent.type == "faq", ConversationEvent.created_at >= start,
                   ConversationEvent.created_at < now + timedelta(seconds=5))
            .order_by(ConversationEvent.created_at, ConversationEvent.id)
        ).all()
        by_conv: dict[str, list[tuple[datetime, str | None]]] = defaultdict(list)
        for cid, at, data in faq:
            d = data or {}
            if d.get("decision") == "answer" and d.get("faq_id"):
                by_conv[cid].append((aware(at), str(d["faq_id"])))
        angry: list[set[str]] = [set() for _ in range(n + 1)]
        topics: dict[str, list[set[str]]] = defaultdict(lambda: [set() for _ in range(n + 1)])
        for _mid, cid, text, label, at in msgs:
            at = aware(at)
            b = self._bucket_index(at, start, window_start, n)
            if label == "angry":
                angry[b].add(cid)
            topic = next((t for when, t in by_conv.get(cid, []) if when >= at), None) or classify_text(text).topic
            if topic:
                topics[topic][b].add(cid)
        return angry, dict(topics)

    def _count_spike(
        self, signal: str, key: str, series: list[set[str]], window_start: datetime, now: datetime
    ) -> Spike | None:
        c = self.config
        baseline = [float(len(b)) for b in series[:-1]]
        count = len(series[-1])
        if count < c.min_count:
            return None
        mean, std = ewma(baseline, c.alpha)
        std = max(std, math.sqrt(max(mean, 1.0)))  # counts are at least Poisson-noisy
        rate = count * c.bucket_s / c.window_s
        threshold = max(mean + c.k * std, mean * c.min_ratio, c.min_count * c.bucket_s / c.window_s)
        if rate < threshold:
            return None
        return Spike(signal, key, round(rate, 2), count, round(mean, 3), round(std, 3), round(threshold, 2),
                     window_start, now, baseline_samples=sum(1 for x in baseline if x > 0))

    # ------------------------------------------------------------------ queue wait
    def _queue_wait(self, s: Session, start: datetime, window_start: datetime, now: datetime, n: int) -> Spike | None:
        c = self.config
        rows = s.execute(
            select(
                Conversation.handed_off_at, Conversation.assigned_at, Conversation.closed_at, Conversation.resolution
            ).where(Conversation.handed_off_at >= start, Conversation.handed_off_at < now)
        ).all()
        waits: list[list[float]] = [[] for _ in range(n + 1)]
        for handed_at, assigned, closed, resolution in rows:
            if handed_at is None:
                continue
            handed = aware(handed_at)
            if assigned is not None:
                end = aware(assigned)
            elif resolution == "abandoned" and closed is not None:
                end = aware(closed)
            else:
                end = now  # still waiting: it has waited this long so far
            waits[self._bucket_index(handed, start, window_start, n)].append((end - handed).total_seconds())
        current = waits[-1]
        if len(current) < c.min_handoffs:
            return None
        value = sum(current) / len(current)
        baseline = [sum(w) / len(w) for w in waits[:-1] if w]
        mean, std = ewma(baseline, c.alpha)
        threshold = max(mean + c.k * std, mean * c.min_ratio, c.queue_wait_min_s)
        if value < threshold:
            return None
        return Spike("queue_wait", "", round(value, 1), len(current), round(mean, 1), round(std, 1),
                     round(threshold, 1), window_start, now, baseline_samples=len(baseline))
