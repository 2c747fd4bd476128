"""Which order backend a process uses, and the process-wide order service.

The variables keep their ``KEFU_ACTIONS_`` names (they predate this package, and deployments set them for the
action server and the router alike): ``KEFU_ACTIONS_ORDER_API_URL`` set -> the shop's HTTP order API, else the demo
store at ``KEFU_ACTIONS_ORDERS_DB_URL``.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from shop.orders import OrderService

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = ROOT / "var" / "demo" / "orders.db"


class OrderSettings(BaseSettings):
    """``order_api_url`` set -> :class:`shop.order_http.HttpOrderService`, else the demo store at ``orders_db_url``."""

    model_config = SettingsConfigDict(env_prefix="KEFU_ACTIONS_", extra="ignore")

    order_api_url: str | None = Field(default=None, description="base URL of the shop's order API")
    order_api_token: str | None = Field(default=None, description="sent as `Authorization: Bearer <token>`")
    order_api_timeout_s: float = Field(default=3.0, gt=0)
    orders_db_url: str = f"sqlite:///{DEFAULT_DB}"


@lru_cache
def get_order_settings() -> OrderSettings:
    return OrderSettings()


def build_order_service(settings: OrderSettings) -> OrderService:
    """Create the order service chosen by ``settings`` (imports kept local: each backend pulls its own deps)."""
    if settings.order_api_url:
        from shop.order_http import HttpOrderService

        return HttpOrderService(
            settings.order_api_url, timeout_s=settings.order_api_timeout_s, token=settings.order_api_token
        )
    from shop.demo_store import DemoOrderStore

    store = DemoOrderStore.from_url(settings.orders_db_url, create=False)
    if store.is_empty():
        logger.warning("the demo order store %s has no orders: run `kefu demo seed --db <file>`",
                       settings.orders_db_url)
    return store


@lru_cache
def get_order_service() -> OrderService:
    """The process-wide order service (one engine / one HTTP connection pool per process)."""
    return build_order_service(get_order_settings())
