"""Heavy objects are built once per process, ahead of the first shopper message."""

from __future__ import annotations

from pathlib import Path

import pytest

from actions import settings as action_settings
from actions.products import get_product_recognizer
from actions.warmup import in_server_worker, warm_up
from shop import settings as shop_settings


def test_warm_up_builds_every_singleton_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEFU_ACTIONS_ORDERS_DB_URL", f"sqlite:///{tmp_path / 'orders.db'}")
    monkeypatch.setenv("KEFU_ACTIONS_KB_ENABLED", "false")
    action_settings.get_settings.cache_clear()
    shop_settings.get_order_settings.cache_clear()
    shop_settings.get_order_service.cache_clear()
    try:
        timings = warm_up()
        assert set(timings) == {"products", "orders", "kb"}
        service = shop_settings.get_order_service()
        recognizer = get_product_recognizer()
        warm_up()
        assert shop_settings.get_order_service() is service and get_product_recognizer() is recognizer
    finally:
        action_settings.get_settings.cache_clear()
        shop_settings.get_order_settings.cache_clear()
        shop_settings.get_order_service.cache_clear()


def test_warm_up_starts_only_in_server_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SANIC_WORKER_NAME", raising=False)
    assert not in_server_worker()
    monkeypatch.setenv("SANIC_WORKER_NAME", "Sanic-Server-0-0")
    assert in_server_worker()


def test_after_the_warm_up_the_loaded_objects_are_frozen_out_of_full_collections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gc

    from actions import warmup

    calls: list[str] = []
    monkeypatch.setattr(warmup, "warm_up", lambda: calls.append("warm_up") or {})
    frozen: list[int] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(len(calls)))
    warmup.warm_up_and_freeze()
    assert calls == ["warm_up"] and frozen == [1]  # frozen once, after everything was loaded
