"""Fixtures shared by the router's test packages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from shop import settings as shop_settings
from shop.demo_data import seed_demo_store
from shop.demo_store import DemoOrderStore
from shop.orders import Order

DEMO_NOW = datetime(2026, 11, 20, 10, 0)


@pytest.fixture()
def demo_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Order]:
    """An order of c0001 in a seeded demo store named by KEFU_ACTIONS_ORDERS_DB_URL, the store the app's order panel
    reads (as `make run` sets it for the router)."""
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    store = DemoOrderStore.from_url(url, clock=lambda: DEMO_NOW)
    seed_demo_store(store, n_orders=40, seed=3, now=DEMO_NOW)
    order = store.find_orders(customer_id="c0001", limit=1)[0]
    store.close()
    monkeypatch.setenv("KEFU_ACTIONS_ORDERS_DB_URL", url)
    monkeypatch.delenv("KEFU_ACTIONS_ORDER_API_URL", raising=False)
    shop_settings.get_order_settings.cache_clear()
    shop_settings.get_order_service.cache_clear()
    yield order
    shop_settings.get_order_settings.cache_clear()
    shop_settings.get_order_service.cache_clear()
