"""Stored risk alerts (shown on the dashboard and sent to the webhook)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from router.clock import utcnow
from router.db import Base


class Alert(Base):
    """A signal (angry messages, one topic, queue wait) that spiked above its baseline in a window."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_signal_key_created", "signal", "key", "created_at"),
        Index("uq_alerts_dedup_key", "dedup_key", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    signal: Mapped[str] = mapped_column(String(16))  # angry | topic | queue_wait
    key: Mapped[str] = mapped_column(String(64), default="")  # the topic for topic alerts, else ""
    severity: Mapped[str] = mapped_column(String(8))  # warning | critical
    value: Mapped[float] = mapped_column(Float)
    baseline: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | acknowledged | resolved
    acknowledged_by: Mapped[int | None] = mapped_column(Integer)
    webhook_status: Mapped[str | None] = mapped_column(String(16))  # sent | failed | disabled
    webhook_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    # signal, key and cool-down slot: two evaluations racing (two replicas) cannot store the same alert twice
    dedup_key: Mapped[str | None] = mapped_column(String(96))
