"""Small helpers shared by the end-to-end tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session


def sample_order(orders_db_url: str, status: str) -> tuple[str, str]:
    """(order id, customer id) of a seeded demo order in ``status``."""
    from actions.demo_store import OrderRow

    engine = create_engine(orders_db_url)
    try:
        with Session(engine) as session:
            row = session.scalars(select(OrderRow).where(OrderRow.status == status).order_by(OrderRow.id)).first()
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
