"""The agent console's order panel reads the shop's orders through ``shop`` (the same service the actions use)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import pytest

from router.gateway.context import ContextBuilder, default_order_lookup
from router.gateway.rasa_client import RasaClient, RasaUnavailable
from shop import settings as shop_settings
from shop.demo_data import seed_demo_store
from shop.demo_store import DemoOrderStore
from shop.orders import Order

NOW = datetime(2026, 11, 20, 10, 0)


@pytest.fixture()
def demo_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Order]:
    """A seeded demo store named by KEFU_ACTIONS_ORDERS_DB_URL, as `make run` sets it for the router."""
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    store = DemoOrderStore.from_url(url, clock=lambda: NOW)
    seed_demo_store(store, n_orders=40, seed=3, now=NOW)
    order = store.find_orders(customer_id="c0001", limit=1)[0]
    store.close()
    monkeypatch.setenv("KEFU_ACTIONS_ORDERS_DB_URL", url)
    monkeypatch.delenv("KEFU_ACTIONS_ORDER_API_URL", raising=False)
    shop_settings.get_order_settings.cache_clear()
    shop_settings.get_order_service.cache_clear()
    yield order
    shop_settings.get_order_settings.cache_clear()
    shop_settings.get_order_service.cache_clear()


def test_lookup_shows_the_customers_own_order_only(demo_order: Order) -> None:
    lookup = default_order_lookup()
    shown = lookup(demo_order.order_id, "c0001")
    assert shown is not None
    assert shown["order_id"] == demo_order.order_id and shown["status"] == demo_order.status
    assert shown["items"][0]["product"] == demo_order.items[0].product
    assert lookup(demo_order.order_id, "c0002") is None  # another shopper's order
    assert lookup("9" * 16, "c0001") is None  # no such order


class _NoRasa:
    async def tracker(self, conversation_id: str) -> dict[str, Any]:
        raise RasaUnavailable(url="http://rasa.invalid", reason="test")


def test_the_panel_finds_the_order_number_in_the_transcript(demo_order: Order) -> None:
    builder = ContextBuilder(rasa=cast(RasaClient, _NoRasa()), order_lookup=default_order_lookup(), faq_search=None)
    conv = {"id": "conv-1", "customer_id": "c0001"}
    transcript = [
        {"direction": "in", "conversation_id": "conv-1", "text": f"订单 {demo_order.order_id} 怎么还没到",
         "sentiment_label": None, "sentiment_score": None, "mood": None, "created_at": NOW.isoformat()},
    ]
    panel = asyncio.run(builder.build(conv, transcript))
    assert panel["order"] is not None and panel["order"]["order_id"] == demo_order.order_id
