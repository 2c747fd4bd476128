"""Who a shopper is: anonymous web visitors (bearer tokens), customers verified by the shop (identity hash), and
shop backends (channel keys). Every check of a shopper's credential goes through :class:`IdentityService`.

* a visitor token is 256 random bits, stored as its SHA-256, and expires (``visitor_token_ttl_s``);
* ``identity_hash`` = hex HMAC-SHA256(web identity secret, customer_id), computed by the shop's server;
* a channel key is one per channel (``app``, ``miniprogram``), stored as its SHA-256, rotatable.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from router.clock import aware, utcnow
from router.conversations.models import Conversation, Customer, CustomerIdentity, Message, Survey
from router.db import session_scope
from router.identity.errors import IdentityNotVerified, ReservedCustomerId, ShopperAuthError, WrongChannelKey
from router.identity.models import ChannelKey, VisitorToken
from router.tickets.models import Ticket

VISITOR_PREFIX = "anon:"
ERASED_PREFIX = "erased:"  # rows of an erased customer (router.identity.erasure)
RESERVED_PREFIXES = (VISITOR_PREFIX, ERASED_PREFIX)  # never claimable: not by a shop's signature, not by a backend
KEY_CHANNELS = ("app", "miniprogram")
Kind = Literal["visitor", "customer", "backend"]


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def identity_hash(secret: str, customer_id: str) -> str:
    """What the shop's server computes for a logged-in shopper: hex HMAC-SHA256(secret, customer_id)."""
    return hmac.new(secret.encode(), customer_id.encode(), hashlib.sha256).hexdigest()


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)  # 256 bits



@dataclass(frozen=True)
class Shopper:
    """The authenticated caller of a shopper endpoint.

    ``visitor`` and ``customer`` callers own exactly one customer id; a ``backend`` (a shop's server holding a
    channel key) vouches for any of its customers, never for an anonymous web visitor.
    """

    kind: Kind
    customer_id: str | None = None
    channel: str | None = None

    def owns(self, customer_id: str) -> bool:
        if self.kind == "backend":
            return not customer_id.startswith(RESERVED_PREFIXES)
        return self.customer_id is not None and hmac.compare_digest(self.customer_id, customer_id)


@dataclass(frozen=True)
class Admission:
    """A web shopper let in: the customer id to act as, and a new token to hand back (None: keep the current one)."""

    customer_id: str
    verified: bool
    token: str | None = None


class IdentityService:
    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        web_identity_secret: str | None,
        visitor_token_ttl_s: float,
    ) -> None:
        self.sessions = session_factory
        self.web_identity_secret = web_identity_secret
        self.visitor_token_ttl = timedelta(seconds=visitor_token_ttl_s)

    # ------------------------------------------------------------------ visitor tokens
    def issue_token(self, customer_id: str, *, verified: bool, now: datetime | None = None) -> str:
        token = new_secret("kv_")
        issued = now or utcnow()
        with session_scope(self.sessions) as session:
            if session.get(Customer, customer_id) is None:
                session.add(Customer(id=customer_id))
            session.add(
                VisitorToken(
                    token_hash=digest(token),
                    customer_id=customer_id,
                    verified=verified,
                    created_at=issued,
                    expires_at=issued + self.visitor_token_ttl,
                )
            )
        return token

    def new_visitor(self) -> Admission:
        customer_id = VISITOR_PREFIX + secrets.token_hex(12)
        return Admission(customer_id, False, self.issue_token(customer_id, verified=False))

    def shopper_of_token(self, token: str) -> Shopper:
        """The owner of a visitor token; :class:`ShopperAuthError` (401) when unknown, expired or erased."""
        if not token or len(token) > 256:
            raise ShopperAuthError("invalid visitor token")
        with session_scope(self.sessions) as session:
            row = session.get(VisitorToken, digest(token))
            if row is None:
                raise ShopperAuthError("invalid visitor token")
            if aware(row.expires_at) <= utcnow():
                raise ShopperAuthError("visitor token expired", "会话已过期，请刷新页面后重新开始咨询。")
            return Shopper("customer" if row.verified else "visitor", row.customer_id, "web")

    def revoke_tokens(self, session: Session, customer_id: str) -> None:
        session.query(VisitorToken).filter(VisitorToken.customer_id == customer_id).delete()

    # ------------------------------------------------------------------ verified web customers
    def verify_claim(self, customer_id: str, given_hash: str | None) -> None:
        """Raise unless ``given_hash`` is the shop's signature of ``customer_id`` (a claim alone is never trusted)."""
        if customer_id.startswith(RESERVED_PREFIXES):
            raise ReservedCustomerId(customer_id)
        if not self.web_identity_secret:
            raise IdentityNotVerified("identity verification is not configured (KEFU_ROUTER_WEB_IDENTITY_SECRET)")
        if not given_hash:
            raise IdentityNotVerified("customer_id needs identity_hash = hex HMAC-SHA256(web identity secret, id)")
        expected = identity_hash(self.web_identity_secret, customer_id)
        if not hmac.compare_digest(expected, given_hash.lower()):
            raise IdentityNotVerified("identity_hash does not match customer_id")

    def admit_web(self, *, bearer: str | None, customer_id: str | None, given_hash: str | None) -> Admission:
        """Who a web message comes from: the token's owner, a verified customer, or a new anonymous visitor.

        A visitor who verifies is merged into the customer (history and all); a token of another customer is not
        reused for a newly verified one (two people on one browser), a new token is issued instead."""
        current = self.shopper_of_token(bearer) if bearer is not None else None
        if customer_id is None:
            if current is None:
                return self.new_visitor()
            assert current.customer_id is not None
            return Admission(current.customer_id, current.kind == "customer")
        self.verify_claim(customer_id, given_hash)
        if current is not None and current.customer_id == customer_id:
            return Admission(customer_id, True)
        if current is not None and current.kind == "visitor" and bearer is not None:
            assert current.customer_id is not None
            self.merge_visitor(current.customer_id, customer_id, token=bearer)
            return Admission(customer_id, True)
        return Admission(customer_id, True, self.issue_token(customer_id, verified=True))

    def merge_visitor(self, visitor_id: str, customer_id: str, *, token: str | None = None) -> None:
        """Move an anonymous visitor's conversations, messages, surveys and tickets to the verified customer."""
        with session_scope(self.sessions) as session:
            if session.get(Customer, customer_id) is None:
                session.add(Customer(id=customer_id))
                session.flush()
            for table in (Conversation, Message, Survey, Ticket, CustomerIdentity):
                session.execute(
                    update(table).where(table.customer_id == visitor_id).values(customer_id=customer_id)
                )
            if token is not None:
                row = session.get(VisitorToken, digest(token))
                if row is not None:
                    row.customer_id, row.verified = customer_id, True
            visitor = session.get(Customer, visitor_id)
            if visitor is not None:
                session.delete(visitor)

    # ------------------------------------------------------------------ channel keys (shop backends)
    def check_channel_key(self, channel: str | None, key: str | None) -> Shopper:
        """The shop backend holding ``key``; ``channel`` None accepts the key of any channel (reads)."""
        if not key:
            raise ShopperAuthError("missing X-Kefu-Channel-Key header", "缺少接入密钥。")
        with session_scope(self.sessions) as session:
            row = session.scalar(select(ChannelKey).where(ChannelKey.key_hash == digest(key)))
            if row is None or row.revoked_at is not None:
                raise ShopperAuthError("unknown or revoked channel key", "接入密钥无效或已停用。")
            if channel is not None and row.channel != channel:
                raise WrongChannelKey(f"this key is for channel {row.channel!r}, not {channel!r}")
            return Shopper("backend", None, row.channel)

    def rotate_channel_key(self, channel: str, *, keep_old: bool = False) -> str:
        """A new key for ``channel`` (shown once); the old ones stop working unless ``keep_old`` (a hand-over)."""
        if channel not in KEY_CHANNELS:
            raise ValueError(f"channel must be one of {KEY_CHANNELS}")
        key = new_secret(f"kk_{channel}_")
        with session_scope(self.sessions) as session:
            if not keep_old:
                session.execute(
                    update(ChannelKey)
                    .where(ChannelKey.channel == channel, ChannelKey.revoked_at.is_(None))
                    .values(revoked_at=utcnow())
                )
            session.add(ChannelKey(channel=channel, key_hash=digest(key)))
        return key

    def register_channel_key(self, channel: str, key: str) -> None:
        """Store a key created elsewhere (the demo keys file) unless it is stored already."""
        with session_scope(self.sessions) as session:
            if session.scalar(select(ChannelKey.id).where(ChannelKey.key_hash == digest(key))) is None:
                session.add(ChannelKey(channel=channel, key_hash=digest(key)))
