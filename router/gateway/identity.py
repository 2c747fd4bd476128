"""Who a channel identity is: web and app identities are customer ids; a mini-program openid names a customer only
through the identity table (and may be linked to an existing customer, so every channel shares one history)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from router.conversations.models import Customer, CustomerIdentity
from router.gateway import repository


def resolve_customer_id(session: Session, channel: str, external_id: str) -> str:
    """The customer behind a channel identity, created on first sight."""
    if channel == "miniprogram":
        row = repository.identity(session, channel=channel, external_id=external_id)
        if row is not None:
            return row.customer_id
        customer_id = f"mp:{external_id}"
        ensure_customer(session, customer_id)
        session.add(CustomerIdentity(channel=channel, external_id=external_id, customer_id=customer_id))
        session.flush()
        return customer_id
    ensure_customer(session, external_id)
    return external_id


def link_identity(session: Session, *, channel: str, external_id: str, customer_id: str) -> None:
    """Link e.g. a mini-program openid to a customer (made if new); an earlier link of the openid moves."""
    ensure_customer(session, customer_id)
    row = repository.identity(session, channel=channel, external_id=external_id)
    if row is None:
        session.add(CustomerIdentity(channel=channel, external_id=external_id, customer_id=customer_id))
    else:
        row.customer_id = customer_id


def ensure_customer(session: Session, customer_id: str) -> None:
    if session.get(Customer, customer_id) is None:
        session.add(Customer(id=customer_id))
        session.flush()
