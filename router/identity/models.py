"""Identity tables: shoppers' visitor tokens, server-to-server channel keys, and the audit of revealed personal data.

Secrets are stored as SHA-256 digests only (they are long random strings, so a fast hash is enough): a copy of the
database does not let anyone act as a shopper or a shop backend.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from router.clock import utcnow
from router.db import Base


class VisitorToken(Base):
    """A web shopper's bearer token: an anonymous visitor, or a customer verified by the shop's identity hash."""

    __tablename__ = "visitor_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(128), index=True)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ChannelKey(Base):
    """The key a shop's backend sends in ``X-Kefu-Channel-Key`` for one channel (app, miniprogram); rotatable."""

    __tablename__ = "channel_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PersonalDataAccess(Base):
    """Audit: who saw a conversation's unmasked personal data, or exported / erased a customer's data, and when."""

    __tablename__ = "personal_data_access"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action: Mapped[str] = mapped_column(String(16))  # reveal | export | erase
    user_id: Mapped[int | None] = mapped_column(Integer)  # None: the command line
    conversation_id: Mapped[str | None] = mapped_column(String(32), index=True)
    customer_ref: Mapped[str | None] = mapped_column(String(128))  # pseudonym after an erase, never the erased id
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
