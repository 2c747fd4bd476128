"""Corpus-change notices over Redis pub/sub: the writer announces the new corpus revision, every process that
answers FAQs wakes up and checks the store at once instead of waiting for its next poll.

A notice only says "look again": the revision is always read back from the store, so a lost, duplicated or foreign
notice (another deployment on the same channel) costs one cheap check, never a wrong index.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

log = logging.getLogger(__name__)


class RedisNotifier:
    """Publishes ``revision`` on ``channel``. Failures are logged, never raised: the write is already committed and
    the pollers find it on their own."""

    def __init__(self, url: str, channel: str) -> None:
        import redis

        self.channel = channel
        self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def notify(self, revision: int) -> None:
        try:
            self._client.publish(self.channel, str(revision))
        except Exception as exc:  # Redis down: the other processes' backstop poll picks the change up
            log.warning("could not announce FAQ corpus revision %s on %s: %s", revision, self.channel, exc)

    def close(self) -> None:
        self._client.close()


class RedisListener:
    """Waits for notices on ``channel``. While Redis is unreachable it sleeps ``fallback_poll_s`` per wait (the caller
    checks the store after every wait, so it polls meanwhile) and resubscribes when Redis is back."""

    def __init__(self, url: str, channel: str, *, fallback_poll_s: float) -> None:
        import redis

        self.channel = channel
        self.fallback_poll_s = fallback_poll_s
        self._client = redis.Redis.from_url(url, socket_timeout=None, socket_connect_timeout=2)
        self._pubsub: Any = None
        self.healthy = False

    def wait(self, timeout: float, stop: threading.Event) -> bool:
        """Block up to ``timeout`` seconds (checking ``stop`` every second); True when a notice arrived, and right
        after (re)subscribing, since a notice may have been missed meanwhile."""
        if self._pubsub is None:
            try:
                pubsub = self._client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
            except Exception as exc:
                if self.healthy or self._pubsub is None:
                    log.warning("FAQ corpus notices unavailable (%s); polling the revision meanwhile", exc)
                self.healthy = False
                stop.wait(self.fallback_poll_s)
                return False
            self._pubsub, self.healthy = pubsub, True
            return True
        deadline = time.monotonic() + timeout
        while not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                message = self._pubsub.get_message(timeout=min(1.0, remaining))
            except Exception as exc:  # connection lost: the next wait resubscribes (or polls while it cannot)
                log.warning("FAQ corpus notices interrupted (%s)", exc)
                self.healthy = False
                self._reset()
                return False
            if message is not None and message.get("type") == "message":
                return True
        return False

    def _reset(self) -> None:
        if self._pubsub is not None:
            try:
                self._pubsub.close()
            except Exception:  # already broken
                pass
        self._pubsub = None

    def close(self) -> None:
        self._reset()
        self._client.close()
