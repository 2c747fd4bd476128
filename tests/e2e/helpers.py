"""Small helpers shared by the end-to-end tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session


def sample_order(orders_db_url: str, status: str, *, not_of: str | None = None) -> tuple[str, str]:
    """(order id, customer id) of a seeded demo order in ``status`` (of another customer than ``not_of``)."""
    from shop.demo_store import OrderRow

    engine = create_engine(orders_db_url)
    try:
        with Session(engine) as session:
            query = select(OrderRow).where(OrderRow.status == status, OrderRow.customer_id != (not_of or ""))
            row = session.scalars(query.order_by(OrderRow.id)).first()
            assert row is not None, f"the demo seed has no order in status {status}"
            return row.id, row.customer_id
    finally:
        engine.dispose()


def rasa_say(rasa_url: str, sender: str, text: str, **metadata: Any) -> list[dict[str, Any]]:
    resp = httpx.post(
        f"{rasa_url}/webhooks/rest/webhook",
        json={"sender": sender, "message": text, "metadata": metadata},
        timeout=60,
    )
    resp.raise_for_status()
    messages: list[dict[str, Any]] = resp.json()
    return messages


def texts(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m.get("text", "") for m in messages if m.get("text"))


def customs(messages: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m["custom"] for m in messages if isinstance(m.get("custom"), dict) and m["custom"].get("kefu") == kind]


def new_sender() -> str:
    return "t" + uuid.uuid4().hex[:12]


# ------------------------------------------------------------------ shopper credentials
def shop_credentials(db_url: str) -> dict[str, str]:
    """What a shop's servers hold, for a router on the (migrated) database ``db_url``: channel keys for the app and
    mini-program channels (registered, stored hashed) and a web identity secret (the router needs it in its env:
    :func:`credentials_env`). The shape of ``var/demo/channel_keys.json``."""
    import secrets

    from router.db import make_engine, make_session_factory
    from router.identity import IdentityService

    engine = make_engine(db_url)
    try:
        identity = IdentityService(
            session_factory=make_session_factory(engine), web_identity_secret=None, visitor_token_ttl_s=1
        )
        keys = {channel: identity.rotate_channel_key(channel) for channel in ("app", "miniprogram")}
    finally:
        engine.dispose()
    return {**keys, "web_identity_secret": secrets.token_hex(32)}


def credentials_env(credentials: dict[str, str]) -> dict[str, str]:
    return {"KEFU_ROUTER_WEB_IDENTITY_SECRET": credentials["web_identity_secret"]}


def signed(credentials: dict[str, str], customer_id: str) -> dict[str, str]:
    """``customer_id`` + ``identity_hash``: a web shopper the shop has signed in."""
    from router.identity import identity_hash

    return {"customer_id": customer_id, "identity_hash": identity_hash(credentials["web_identity_secret"], customer_id)}


def shopper_message(
    credentials: dict[str, str], channel: str, customer_id: str, text: str, **extra: Any
) -> tuple[dict[str, Any], dict[str, str]]:
    """(JSON body, headers) of ``POST /api/v1/messages`` as a shop sends it: web signed, app / mini-program keyed."""
    body: dict[str, Any] = {"channel": channel, "customer_id": customer_id, "text": text, **extra}
    if channel == "web":
        return {**body, **signed(credentials, customer_id)}, {}
    return body, {"X-Kefu-Channel-Key": credentials[channel]}


def auth_frame(token: str) -> str:
    """The first frame of a shopper's or an agent's WebSocket."""
    import json

    return json.dumps({"type": "auth", "token": token})
