"""Risk early warning: run the detector, store new alerts (with a cool-down per signal), send them to a webhook."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypedDict

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from router.alerts.detector import DetectorConfig, Spike, SpikeDetector
from router.alerts.models import Alert
from router.clock import aware, utcnow
from router.db import session_scope
from router.errors import KefuError

log = logging.getLogger(__name__)

# what supervisors read on the dashboard (Chinese); topic ids are FAQ ids
TOPIC_LABELS = {
    "package_lost": "包裹丢失",
    "package_damaged": "商品破损",
    "wrong_item": "发错货",
    "missing_item": "少件漏发",
    "refund_time": "退款到账",
    "return_how": "退货",
    "exchange_how": "换货",
    "quality_issue": "质量问题",
    "logistics_track": "物流查询",
    "delivery_time": "发货时效",
    "address_change": "修改地址",
    "payment_failed": "支付失败",
    "invoice_apply": "开发票",
    "coupon_invalid": "优惠券不可用",
    "price_protection": "价保差价",
}


class AlertNotFound(KefuError):
    status = 404
    message_zh = "找不到该告警。"

    def __init__(self, alert_id: int) -> None:
        super().__init__(f"alert {alert_id} not found", alert_id=alert_id)
        self.alert_id = alert_id


class AlertPayload(TypedDict):
    """The JSON POSTed to the webhook."""

    id: int
    signal: str
    key: str
    severity: str
    message: str
    value: float
    baseline: float
    threshold: float
    window_start: str
    window_end: str
    created_at: str
    details: dict[str, Any]


def describe(spike: Spike, window_s: float, baseline_s: float = 12 * 3600.0) -> str:
    """The alert text for supervisors; says so when there was no baseline rather than quoting "about 0"."""
    minutes = max(1, round(window_s / 60))
    hours = max(1, round(baseline_s / 3600))
    no_baseline = spike.baseline_samples == 0
    if spike.signal == "angry":
        compare = (f"此前 {hours} 小时没有同类情况，暂无可比基线" if no_baseline
                   else f"高于基线（每时段约 {spike.baseline:.1f} 位）")
        return (f"愤怒情绪激增：最近 {minutes} 分钟有 {spike.count} 位顾客发送愤怒消息，"
                f"{compare}，请关注并安排人手。")
    if spike.signal == "topic":
        label = TOPIC_LABELS.get(spike.key, spike.key)
        compare = (f"此前 {hours} 小时没有同类咨询，暂无可比基线" if no_baseline
                   else f"基线约每时段 {spike.baseline:.1f} 位")
        return (f"「{label}」相关咨询激增：最近 {minutes} 分钟有 {spike.count} 位顾客反映，"
                f"{compare}，可能存在批量问题，请核查。")
    compare = (f"此前 {hours} 小时没有转人工记录，暂无可比基线，已超过告警下限 {spike.threshold:.0f} 秒"
               if no_baseline else f"基线约 {spike.baseline:.0f} 秒")
    return (f"排队等待时间异常：最近 {minutes} 分钟转人工的 {spike.count} 位顾客平均等待 {spike.value:.0f} 秒，"
            f"{compare}，请增派客服。")


def payload_of(alert: Alert) -> AlertPayload:
    return AlertPayload(
        id=alert.id,
        signal=alert.signal,
        key=alert.key,
        severity=alert.severity,
        message=alert.message,
        value=alert.value,
        baseline=alert.baseline,
        threshold=alert.threshold,
        window_start=aware(alert.window_start).isoformat(),
        window_end=aware(alert.window_end).isoformat(),
        created_at=aware(alert.created_at).isoformat(),
        details=dict(alert.details or {}),
    )


class WebhookSender:
    """POSTs alert JSON to a configured URL; retries transient failures, never raises into the detector."""

    def __init__(self, url: str, *, timeout_s: float = 5.0, retries: int = 2,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.retries = retries
        self.transport = transport

    def send(self, payload: AlertPayload) -> tuple[bool, str | None]:
        error: str | None = None
        with httpx.Client(timeout=self.timeout_s, transport=self.transport) as client:
            for _attempt in range(self.retries + 1):
                try:
                    response = client.post(self.url, json=payload, headers={"User-Agent": "kefu-alerts/1"})
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    continue
                if response.status_code < 300:
                    return True, None
                error = f"HTTP {response.status_code}"
                if response.status_code < 500:
                    break  # the receiver refuses it; retrying will not help
        return False, error


class AlertService:
    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        config: DetectorConfig | None = None,
        webhook: WebhookSender | None = None,
        cooldown_s: float = 1800.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = session_factory
        self.detector = SpikeDetector(config)
        self.webhook = webhook
        self.cooldown_s = cooldown_s
        self.clock = clock

    @property
    def config(self) -> DetectorConfig:
        return self.detector.config

    def evaluate(self, *, now: datetime | None = None) -> list[Alert]:
        """Detect spikes at ``now``, store the new ones (one per signal and key per cool-down), send them out."""
        now = aware(now or self.clock())
        created: list[Alert] = []
        with session_scope(self.sessions) as s:
            for spike in self.detector.evaluate(s, now):
                recent = s.scalar(
                    select(Alert.id).where(
                        Alert.signal == spike.signal,
                        Alert.key == spike.key,
                        Alert.created_at > now - timedelta(seconds=self.cooldown_s),
                    )
                )
                if recent is not None:
                    continue
                alert = Alert(
                    signal=spike.signal,
                    key=spike.key,
                    severity="critical" if spike.value >= 2 * spike.threshold else "warning",
                    value=spike.value,
                    baseline=spike.baseline,
                    threshold=spike.threshold,
                    window_start=spike.window_start,
                    window_end=spike.window_end,
                    message=describe(spike, self.config.window_s, self.config.baseline_s),
                    details={"count": spike.count, "std": spike.std, "baseline_samples": spike.baseline_samples,
                             "window_s": self.config.window_s,
                             "bucket_s": self.config.bucket_s, "k": self.config.k},
                    status="open",
                    webhook_status="disabled" if self.webhook is None else "pending",
                    created_at=now,
                    dedup_key=self._dedup_key(spike.signal, spike.key, now),
                )
                try:
                    with s.begin_nested():  # another replica stored this alert first: theirs stands
                        s.add(alert)
                        s.flush()
                except IntegrityError:
                    log.info("alert %s/%s already stored by another evaluation", spike.signal, spike.key)
                    continue
                created.append(alert)
        for alert in created:
            self._deliver(alert)
        return created

    def _dedup_key(self, signal: str, key: str, now: datetime) -> str:
        """The cool-down slot ``now`` falls in: two alerts in one slot are less than a cool-down apart, which the
        check above forbids anyway, so the unique key only stops evaluations racing each other."""
        slot = int(now.timestamp() // max(1.0, self.cooldown_s))
        return f"{signal}|{key[:64]}|{slot}"

    def _deliver(self, alert: Alert) -> None:
        if self.webhook is None:
            return
        ok, error = self.webhook.send(payload_of(alert))
        if not ok:
            log.warning("alert %s webhook failed: %s", alert.id, error)
        with session_scope(self.sessions) as s:
            row = s.get(Alert, alert.id)
            if row is not None:
                row.webhook_status, row.webhook_error = ("sent", None) if ok else ("failed", error)
                alert.webhook_status, alert.webhook_error = row.webhook_status, row.webhook_error

    def list_alerts(
        self, *, status: str | None = None, since: datetime | None = None, signal: str | None = None, limit: int = 100
    ) -> list[Alert]:
        with session_scope(self.sessions) as s:
            query = select(Alert)
            if status:
                query = query.where(Alert.status == status)
            if since:
                query = query.where(Alert.created_at >= aware(since))
            if signal:
                query = query.where(Alert.signal == signal)
            return list(s.scalars(query.order_by(Alert.created_at.desc(), Alert.id.desc()).limit(limit)).all())

    def set_status(self, alert_id: int, *, status: str, user_id: int) -> Alert:
        with session_scope(self.sessions) as s:
            alert = s.get(Alert, alert_id)
            if alert is None:
                raise AlertNotFound(alert_id)
            alert.status = status
            alert.acknowledged_by = user_id
            return alert
