"""Admin side of outbound delivery: callback registration (the secret is returned once), dead letters, retries,
and the delivery status of messages (agent console)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from router.clock import utcnow
from router.db import session_scope
from router.outbound.errors import NotRetryable, UnknownChannel
from router.outbound.models import DEAD, PENDING, OutboundEndpoint, OutboundMessage
from router.outbound.signing import new_secret
from router.outbound.urls import check_url

CHANNELS = ("app",)


@dataclass(frozen=True)
class UrlPolicy:
    allow_private: bool
    require_https: bool

    def check(self, url: str) -> None:
        check_url(url, allow_private=self.allow_private, require_https=self.require_https)


class OutboundAdmin:
    def __init__(self, *, sessions: sessionmaker[Session], url_policy: UrlPolicy) -> None:
        self.sessions = sessions
        self.url_policy = url_policy

    def register(self, *, channel: str, url: str) -> tuple[dict[str, Any], str]:
        """Register (or replace) the channel's callback; returns the endpoint and its new secret (shown once)."""
        if channel not in CHANNELS:
            raise UnknownChannel(f"no callback channel {channel!r}; known: {', '.join(CHANNELS)}")
        self.url_policy.check(url)
        secret = new_secret()
        with session_scope(self.sessions) as session:
            endpoint = session.scalar(select(OutboundEndpoint).where(OutboundEndpoint.channel == channel))
            if endpoint is None:
                endpoint = OutboundEndpoint(channel=channel, url=url, secret=secret)
                session.add(endpoint)
            else:
                endpoint.url, endpoint.secret, endpoint.updated_at = url, secret, utcnow()
                endpoint.enabled, endpoint.disabled_reason = True, None
            session.flush()
            return self._view(session, endpoint), secret

    def rotate_secret(self, *, channel: str) -> tuple[dict[str, Any], str]:
        secret = new_secret()
        with session_scope(self.sessions) as session:
            endpoint = self._endpoint(session, channel)
            endpoint.secret, endpoint.updated_at = secret, utcnow()
            return self._view(session, endpoint), secret

    def set_enabled(self, *, channel: str, enabled: bool) -> dict[str, Any]:
        with session_scope(self.sessions) as session:
            endpoint = self._endpoint(session, channel)
            endpoint.enabled, endpoint.updated_at = enabled, utcnow()
            endpoint.disabled_reason = None if enabled else "disabled by an admin"
            return self._view(session, endpoint)

    def remove(self, *, channel: str) -> int:
        """Remove the callback; its undelivered rows are dead-lettered (nothing silently disappears)."""
        with session_scope(self.sessions) as session:
            endpoint = self._endpoint(session, channel)
            dropped = session.execute(
                update(OutboundMessage)
                .where(OutboundMessage.endpoint_id == endpoint.id, OutboundMessage.status == PENDING)
                .values(status=DEAD, last_error="the callback endpoint was removed", lease_until=None)
            ).rowcount  # type: ignore[attr-defined]
            session.delete(endpoint)
            return int(dropped or 0)

    def endpoints(self) -> list[dict[str, Any]]:
        with session_scope(self.sessions) as session:
            rows = session.scalars(select(OutboundEndpoint).order_by(OutboundEndpoint.channel)).all()
            return [self._view(session, e) for e in rows]

    def messages(self, *, status: str | None, limit: int, offset: int) -> list[dict[str, Any]]:
        with session_scope(self.sessions) as session:
            query = select(OutboundMessage).order_by(OutboundMessage.id.desc()).limit(limit).offset(offset)
            if status is not None:
                query = query.where(OutboundMessage.status == status)
            return [message_view(m) for m in session.scalars(query).all()]

    def retry(self, *, outbound_id: int) -> dict[str, Any]:
        """Send a dead-lettered delivery again (same idempotency key, attempts counted afresh)."""
        with session_scope(self.sessions) as session:
            row = session.get(OutboundMessage, outbound_id)
            if row is None:
                raise UnknownChannel(f"no outbound delivery {outbound_id}")
            if row.status != DEAD:
                raise NotRetryable(f"delivery {outbound_id} is {row.status}, not dead-lettered")
            row.status, row.attempts, row.next_attempt_at, row.lease_until = PENDING, 0, utcnow(), None
            return message_view(row)

    def retry_all_dead(self) -> int:
        with session_scope(self.sessions) as session:
            result = session.execute(
                update(OutboundMessage)
                .where(OutboundMessage.status == DEAD)
                .values(status=PENDING, attempts=0, next_attempt_at=utcnow(), lease_until=None)
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def statuses(self, *, conversation_id: str) -> list[dict[str, Any]]:
        """Delivery status of each message of a conversation that went out through a callback or WeChat."""
        with session_scope(self.sessions) as session:
            rows = session.scalars(
                select(OutboundMessage)
                .where(OutboundMessage.conversation_id == conversation_id, OutboundMessage.message_id.is_not(None))
                .order_by(OutboundMessage.id)
            ).all()
            return [
                {
                    "message_id": r.message_id,
                    "status": {"dead": "failed", "pending": "retrying" if r.attempts else "pending"}.get(
                        r.status, r.status
                    ),
                    "reason": r.last_error,
                    "attempts": r.attempts,
                    "transport": r.transport,
                }
                for r in rows
            ]

    @staticmethod
    def _endpoint(session: Session, channel: str) -> OutboundEndpoint:
        endpoint = session.scalar(select(OutboundEndpoint).where(OutboundEndpoint.channel == channel))
        if endpoint is None:
            raise UnknownChannel(f"no callback registered for channel {channel!r}")
        return endpoint

    @staticmethod
    def _view(session: Session, endpoint: OutboundEndpoint) -> dict[str, Any]:
        counts = dict(
            session.execute(
                select(OutboundMessage.status, func.count())
                .where(OutboundMessage.endpoint_id == endpoint.id)
                .group_by(OutboundMessage.status)
            ).all()
        )
        return {
            "channel": endpoint.channel,
            "url": endpoint.url,
            "enabled": endpoint.enabled,
            "disabled_reason": endpoint.disabled_reason,
            "secret_hint": endpoint.secret[:10] + "…",
            "created_at": endpoint.created_at.isoformat(),
            "updated_at": endpoint.updated_at.isoformat(),
            "counts": {k: int(v) for k, v in counts.items()},
        }


def message_view(m: OutboundMessage) -> dict[str, Any]:
    return {
        "id": m.id,
        "key": m.key,
        "conversation_id": m.conversation_id,
        "customer_id": m.customer_id,
        "channel": m.channel,
        "transport": m.transport,
        "event": m.event,
        "message_id": m.message_id,
        "status": m.status,
        "attempts": m.attempts,
        "last_error": m.last_error,
        "last_status_code": m.last_status_code,
        "created_at": m.created_at.isoformat(),
        "next_attempt_at": m.next_attempt_at.isoformat() if m.status == PENDING else None,
        "delivered_at": m.delivered_at.isoformat() if m.delivered_at else None,
    }
