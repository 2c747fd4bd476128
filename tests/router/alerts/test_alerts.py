"""Risk early warning over generated traffic: a quiet baseline raises nothing, a spike of "包裹丢了" raises a topic
alert within the window, long queue waits raise a queue alert; alerts reach a real HTTP webhook."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from router.alerts.detector import DetectorConfig, ewma
from router.alerts.service import AlertService, WebhookSender
from router.demo.traffic import TrafficWriter
from router.settings import Settings
from tests.router.ops_support import add_user, bearer, migrated, ops_app, running

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
CONFIG = DetectorConfig(window_s=600, bucket_s=600, baseline_s=6 * 3600, alpha=0.3, k=3.0, min_count=8,
                        min_ratio=2.0, queue_wait_min_s=120.0)


class Receiver:
    """A real little HTTP server that records the JSON POSTed to it (status configurable)."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                length = int(self.headers.get("Content-Length", "0"))
                receiver.received.append(json.loads(self.rfile.read(length)))
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/kefu"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def baseline(tmp_path: Path) -> Iterator[tuple[Any, Any, TrafficWriter]]:
    engine, sessions = migrated(tmp_path)
    writer = TrafficWriter(sessions, seed=21, queue_wait_mean_s=20.0)
    # a normal morning: ~4 conversations per 10 minutes for 8 hours
    writer.write(200, start=NOW - timedelta(hours=8), end=NOW)
    yield engine, sessions, writer
    engine.dispose()


def test_ewma_tracks_level_and_spread() -> None:
    assert ewma([], 0.3) == (0.0, 0.0)
    mean, std = ewma([5.0] * 20, 0.3)
    assert mean == pytest.approx(5.0) and std == pytest.approx(0.0)
    mean, std = ewma([0.0, 10.0] * 20, 0.3)
    assert 3.0 < mean < 7.0 and std > 3.0
    mean, _ = ewma([1.0] * 10 + [9.0] * 10, 0.5)
    assert mean > 8.9  # recent buckets dominate
    with pytest.raises(ValueError):
        DetectorConfig(alpha=0)


def test_quiet_baseline_raises_nothing(baseline) -> None:
    engine, sessions, writer = baseline
    service = AlertService(session_factory=sessions, config=CONFIG)
    for minutes in range(0, 121, 10):  # slide the window over the last two hours
        assert service.evaluate(now=NOW - timedelta(minutes=minutes)) == []
    assert service.list_alerts() == []


def test_package_lost_spike_raises_a_topic_alert_within_the_window(baseline) -> None:
    engine, sessions, writer = baseline
    spike_start = NOW + timedelta(minutes=1)
    writer.write_spike(topic="package_lost", start=spike_start, duration_s=6 * 60, count=30, angry_share=0.2)
    with Receiver() as hook:
        service = AlertService(session_factory=sessions, config=CONFIG, webhook=WebhookSender(hook.url),
                               cooldown_s=1800)
        # before the spike: nothing; 7 minutes after it began (inside one window): the alert is there
        assert service.evaluate(now=spike_start) == []
        created = service.evaluate(now=spike_start + timedelta(minutes=7))
        topic = [a for a in created if a.signal == "topic"]
        assert [a.key for a in topic] == ["package_lost"]
        alert = topic[0]
        assert alert.value >= alert.threshold and alert.baseline < 2
        assert alert.details["count"] >= 25
        assert "包裹丢失" in alert.message and "激增" in alert.message
        assert alert.webhook_status == "sent"
        sent = {p["id"]: p for p in hook.received}
        assert sent[alert.id]["signal"] == "topic" and sent[alert.id]["key"] == "package_lost"
        assert sent[alert.id]["message"] == alert.message and sent[alert.id]["severity"] in ("warning", "critical")
        # the cool-down keeps one alert per signal while it lasts
        assert [a for a in service.evaluate(now=spike_start + timedelta(minutes=9)) if a.signal == "topic"] == []
        stored = service.list_alerts(signal="topic")
        assert len(stored) == 1 and stored[0].status == "open"
        # other topics stayed quiet
        assert all(a.key in ("", "package_lost") for a in service.list_alerts())


def test_angry_spike_and_failing_webhook(baseline) -> None:
    engine, sessions, writer = baseline
    start = NOW + timedelta(minutes=2)
    writer.write_spike(topic="refund_time", start=start, duration_s=300, count=14, angry_share=1.0)
    with Receiver(status=500) as hook:
        service = AlertService(session_factory=sessions, config=CONFIG,
                               webhook=WebhookSender(hook.url, retries=1))
        created = service.evaluate(now=start + timedelta(minutes=6))
        angry = [a for a in created if a.signal == "angry"]
        assert len(angry) == 1 and angry[0].details["count"] >= 14
        assert "愤怒" in angry[0].message
        assert angry[0].webhook_status == "failed" and "500" in (angry[0].webhook_error or "")
        assert len(hook.received) == 2 * len(created)  # tried twice per alert
    # an unreachable receiver is a failure too, never an exception
    unreachable = AlertService(session_factory=sessions, config=CONFIG,
                               webhook=WebhookSender("http://127.0.0.1:9/nothing", timeout_s=1, retries=0),
                               cooldown_s=0)
    again = unreachable.evaluate(now=start + timedelta(minutes=7))
    assert again and all(a.webhook_status == "failed" for a in again)


def test_queue_wait_spike(baseline) -> None:
    engine, sessions, writer = baseline
    slow = TrafficWriter(sessions, seed=77, queue_wait_mean_s=600.0)
    slow.write(25, start=NOW, end=NOW + timedelta(minutes=8),
               mix={"unknown_to_agent": 0.5, "angry_complaint": 0.2, "abandoned": 0.3})
    service = AlertService(session_factory=sessions, config=CONFIG)
    created = service.evaluate(now=NOW + timedelta(minutes=10))
    waits = [a for a in created if a.signal == "queue_wait"]
    assert len(waits) == 1
    assert waits[0].value > 120 and waits[0].baseline < 60
    assert "排队" in waits[0].message


def test_alerts_api(baseline) -> None:
    engine, sessions, writer = baseline
    now = datetime.now(UTC)
    writer.write(60, start=now - timedelta(hours=6), end=now - timedelta(minutes=15))
    writer.write_spike(topic="package_lost", start=now - timedelta(minutes=8), duration_s=420, count=25)
    settings = Settings(database_url="sqlite://", alert_baseline_s=6 * 3600)
    sup = add_user(sessions, "sup", role="supervisor")
    agent = add_user(sessions, "ag", role="agent")
    with running(ops_app(settings, engine)) as client:
        h = bearer(settings, sup, "sup", "supervisor")
        assert client.get("/api/v1/alerts", headers=bearer(settings, agent, "ag", "agent")).status_code == 403
        assert client.get("/api/v1/alerts").status_code == 401
        created = client.post("/api/v1/alerts/evaluate", headers=h)
        assert created.status_code == 200, created.text
        keys = {(a["signal"], a["key"]) for a in created.json()}
        assert ("topic", "package_lost") in keys
        listed = client.get("/api/v1/alerts", params={"status": "open"}, headers=h).json()
        assert {(a["signal"], a["key"]) for a in listed} == keys
        first = listed[0]
        assert first["webhook_status"] == "disabled"
        ack = client.post(f"/api/v1/alerts/{first['id']}/status", json={"status": "acknowledged"}, headers=h)
        assert ack.status_code == 200
        assert ack.json()["status"] == "acknowledged" and ack.json()["acknowledged_by"] == sup
        assert client.post("/api/v1/alerts/99999/status", json={"status": "resolved"}, headers=h).status_code == 404
        bad = client.post(f"/api/v1/alerts/{first['id']}/status", json={"status": "gone"}, headers=h)
        assert bad.status_code == 422
        assert client.get("/api/v1/alerts", params={"status": "weird"}, headers=h).status_code == 422
        metrics = client.get("/metrics", headers=h).text
        assert 'kefu_alerts{signal="topic",status=' in metrics


def test_the_running_app_raises_and_sends_alerts_by_itself(tmp_path: Path) -> None:
    import time

    from router.app import create_app
    from router.migrate import upgrade

    engine, sessions = migrated(tmp_path, "live.db")
    now = datetime.now(UTC)
    writer = TrafficWriter(sessions, seed=3)
    writer.write(60, start=now - timedelta(hours=6), end=now - timedelta(minutes=15))
    writer.write_spike(topic="package_lost", start=now - timedelta(minutes=6), duration_s=300, count=20)
    with Receiver() as hook:
        settings = Settings(database_url="sqlite://", alert_interval_s=0.3, alert_baseline_s=6 * 3600,
                            alert_webhook_url=hook.url)
        upgrade(engine=engine)
        with running(create_app(settings, db_engine=engine)):
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not hook.received:
                time.sleep(0.2)
        assert any(p["signal"] == "topic" and p["key"] == "package_lost" for p in hook.received)
    stored = AlertService(session_factory=sessions).list_alerts(signal="topic")
    assert [a.key for a in stored] == ["package_lost"] and stored[0].webhook_status == "sent"
    engine.dispose()


def test_a_queue_alert_without_history_says_there_is_no_baseline(tmp_path: Path) -> None:
    """Not "基线约 0 秒": with no hand-off in the baseline period the alert says there is nothing to compare with."""
    engine, sessions = migrated(tmp_path, "fresh.db")
    slow = TrafficWriter(sessions, seed=78, queue_wait_mean_s=600.0)
    slow.write(25, start=NOW, end=NOW + timedelta(minutes=8), mix={"unknown_to_agent": 0.7, "abandoned": 0.3})
    created = AlertService(session_factory=sessions, config=CONFIG).evaluate(now=NOW + timedelta(minutes=10))
    waits = [a for a in created if a.signal == "queue_wait"]
    assert len(waits) == 1
    assert "基线约" not in waits[0].message and "暂无可比基线" in waits[0].message
    assert "此前 6 小时" in waits[0].message and waits[0].details["baseline_samples"] == 0
    engine.dispose()


def test_a_queue_alert_with_history_quotes_the_baseline(baseline) -> None:
    engine, sessions, writer = baseline
    TrafficWriter(sessions, seed=77, queue_wait_mean_s=600.0).write(
        25, start=NOW, end=NOW + timedelta(minutes=8), mix={"unknown_to_agent": 0.7, "abandoned": 0.3})
    created = AlertService(session_factory=sessions, config=CONFIG).evaluate(now=NOW + timedelta(minutes=10))
    wait = next(a for a in created if a.signal == "queue_wait")
    assert wait.details["baseline_samples"] > 0 and f"基线约 {wait.baseline:.0f} 秒" in wait.message
