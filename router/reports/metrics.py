"""Prometheus metrics computed from the database on each scrape (a custom collector, no in-process counters).

Gauges describe the last ``window_s`` seconds (default 24 h) per channel; counters are all-time totals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from router.alerts.models import Alert
from router.conversations.models import Conversation, ConversationEvent
from router.db import session_scope
from router.reports.kpis import KpiValues, compute_kpis
from router.tickets.models import Ticket

GAUGES: list[tuple[str, str, str]] = [
    # (KpiValues field, metric name, help)
    ("containment_rate", "kefu_containment_ratio", "Ended conversations without a hand-off / ended conversations"),
    ("faq_answer_rate", "kefu_faq_answer_ratio", "FAQ decisions that answered / all FAQ decisions"),
    ("escalation_rate", "kefu_escalation_ratio", "Conversations with a hand-off (once each) / started"),
    ("asa_s", "kefu_asa_seconds", "Average speed of answer (hand-off to agent accept)"),
    ("first_response_s", "kefu_first_response_seconds", "Hand-off to first agent reply, mean"),
    ("service_level", "kefu_service_level_ratio", "Hand-offs answered within the service-level threshold"),
    ("abandonment_rate", "kefu_abandonment_ratio", "Hand-offs abandoned before an agent answered"),
    ("csat_avg", "kefu_csat_average", "Mean satisfaction rating (1-5)"),
    ("csat_share", "kefu_csat_satisfied_ratio", "Share of ratings 4-5"),
    ("ticket_breach_rate", "kefu_ticket_sla_breach_ratio", "Tickets with an SLA breach / tickets"),
    ("conversations", "kefu_conversations_window", "Conversations started in the window"),
]


class KpiCollector(Collector):
    """Reads the KPIs from SQL at scrape time, so every replica exposes the same numbers."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        window_s: float = 24 * 3600.0,
        service_level_s: float = 20.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sessions = sessions
        self.window_s = window_s
        self.service_level_s = service_level_s
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        with session_scope(self.sessions) as s:
            report = compute_kpis(
                s, since=now - timedelta(seconds=self.window_s), until=now, service_level_s=self.service_level_s,
                timezone="UTC", now=now,
            )
            by_resolution = s.execute(
                select(Conversation.first_channel, Conversation.resolution, func.count()).group_by(
                    Conversation.first_channel, Conversation.resolution
                )
            ).all()
            events = s.execute(
                select(ConversationEvent.type, ConversationEvent.channel, func.count()).group_by(
                    ConversationEvent.type, ConversationEvent.channel
                )
            ).all()
            tickets = s.execute(
                select(Ticket.status, Ticket.category, func.count()).group_by(Ticket.status, Ticket.category)
            ).all()
            alerts = s.execute(
                select(Alert.signal, Alert.status, func.count()).group_by(Alert.signal, Alert.status)
            ).all()
        scopes: list[tuple[str, KpiValues]] = [("all", report.totals), *report.by_channel.items()]
        for field, name, doc in GAUGES:
            gauge = GaugeMetricFamily(name, f"{doc} (last {self.window_s:.0f} s)", labels=["channel"])
            for channel, values in scopes:
                value = getattr(values, field)
                if value is not None:
                    gauge.add_metric([channel], float(value))
            yield gauge
        conv = CounterMetricFamily("kefu_conversations", "Conversations by first channel and resolution",
                                   labels=["channel", "resolution"])
        for channel, resolution, count in by_resolution:
            conv.add_metric([channel or "", resolution or "open"], float(count))
        yield conv
        ev = CounterMetricFamily("kefu_conversation_events", "Conversation events by type and channel",
                                 labels=["type", "channel"])
        for type_, channel, count in events:
            ev.add_metric([type_, channel or ""], float(count))
        yield ev
        tk = GaugeMetricFamily("kefu_tickets", "Tickets by status and category", labels=["status", "category"])
        for status, category, count in tickets:
            tk.add_metric([status, category], float(count))
        yield tk
        al = GaugeMetricFamily("kefu_alerts", "Risk alerts by signal and status", labels=["signal", "status"])
        for signal, status, count in alerts:
            al.add_metric([signal, status], float(count))
        yield al


def build_registry(sessions: sessionmaker[Session], *, window_s: float, service_level_s: float) -> CollectorRegistry:
    """A registry of its own per app (tests build many apps; the global registry would refuse duplicates)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(KpiCollector(sessions, window_s=window_s, service_level_s=service_level_s))
    return registry
