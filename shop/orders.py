"""The order-service interface, its data model and its domain errors.

Two implementations exist: :class:`shop.demo_store.DemoOrderStore` (SQLite, the default) and
:class:`shop.order_http.HttpOrderService` (a shop's own order API, see ``shop/order_api_server.py`` for the
contract). The actions and the router's order panel only see this module and :mod:`shop.settings`.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import yaml
from pydantic import BaseModel, Field

DISPLAY_PATH = Path(__file__).resolve().parent / "data" / "display.yml"
ORDER_ID_RE = re.compile(r"(?<!\d)\d{16}(?!\d)")


@lru_cache
def _display() -> dict[str, Any]:
    with open(DISPLAY_PATH, encoding="utf-8") as fh:
        data: dict[str, Any] = yaml.safe_load(fh)
    return data


def normalize_order_id(text: str | None) -> str | None:
    """Return the 16-digit order number found in ``text`` (spaces and dashes ignored), else ``None``."""
    if not text:
        return None
    compact = re.sub(r"[\s\-]", "", str(text))
    found = ORDER_ID_RE.findall(compact)
    # two different numbers in one message are ambiguous: ask again rather than guess
    if len(set(found)) != 1:
        return None
    return str(found[0])


class OrderItem(BaseModel):
    product: str
    category: str
    quantity: int = Field(ge=1)
    unit_price: float = Field(ge=0, description="yuan")


class Order(BaseModel):
    """An order as the actions see it (also the JSON body of ``GET {base}/orders/{order_id}``)."""

    order_id: str = Field(pattern=r"^\d{16}$")
    customer_id: str
    status: str = Field(description="待付款 待发货 已发货 运输中 派送中 已签收 已取消 退款中")
    detail: str = Field(default="", description="latest logistics / processing note, shown to the shopper")
    items: list[OrderItem] = Field(min_length=1)
    total: float = Field(ge=0, description="yuan")
    address: str
    carrier: str | None = None
    tracking_no: str | None = None
    created_at: datetime
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    address_changeable: bool | None = Field(
        default=None,
        description="whether the shop would still change the delivery address now; absent (null) when the order "
        "API does not say, and the change itself decides",
    )
    return_refusal: str | None = Field(
        default=None,
        description="why the shop would turn a return request down because of the order's status alone (not "
        "delivered yet, cancelled, being refunded), shown to the shopper; absent (null) when it would consider one "
        "or the order API does not say, and the request itself decides",
    )

    @property
    def product(self) -> str:
        """Display name of the order's products: the first one, plus a count when there are more."""
        first = self.items[0].product
        if len(self.items) == 1:
            return first
        return str(_display()["multi_item_product"]).format(first=first, count=len(self.items))


class ReturnReceipt(BaseModel):
    order_id: str
    return_id: str
    status: str


class InvoiceReceipt(BaseModel):
    order_id: str
    invoice_id: str
    title: str


class AddressChangeReceipt(BaseModel):
    order_id: str
    new_address: str


# ---------------------------------------------------------------- domain errors


class OrderError(Exception):
    """Base class of every order-service error."""


class OrderNotFound(OrderError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id} does not exist")
        self.order_id = order_id


class OrderNotOwned(OrderError):
    def __init__(self, order_id: str, customer_id: str) -> None:
        super().__init__(f"order {order_id} does not belong to customer {customer_id}")
        self.order_id = order_id
        self.customer_id = customer_id


class OrderServiceUnavailable(OrderError):
    """The order backend cannot answer (timeout, connection refused, 5xx, malformed reply)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"order service unavailable: {reason}")
        self.reason = reason


class AddressChangeRefused(OrderError):
    def __init__(self, order_id: str, status: str) -> None:
        super().__init__(f"address of order {order_id} cannot be changed in status {status}")
        self.order_id = order_id
        self.status = status


class ReturnRefused(OrderError):
    """A return the shop will not accept online; ``dispute`` means an agent has to look at it."""

    def __init__(self, order_id: str, code: str, reason: str, *, dispute: bool) -> None:
        super().__init__(f"return of order {order_id} refused: {code}")
        self.order_id = order_id
        self.code = code
        self.reason = reason
        self.dispute = dispute


class InvoiceRefused(OrderError):
    def __init__(self, order_id: str, code: str, reason: str) -> None:
        super().__init__(f"invoice for order {order_id} refused: {code}")
        self.order_id = order_id
        self.code = code
        self.reason = reason


# ---------------------------------------------------------------- the interface


@runtime_checkable
class OrderService(Protocol):
    """What the actions need from a shop's order system. Every method checks ownership first."""

    def get_order(self, order_id: str, *, customer_id: str) -> Order:
        """Raise OrderNotFound, OrderNotOwned or OrderServiceUnavailable."""
        ...

    def find_orders(self, *, customer_id: str, product: str | None = None, limit: int = 5) -> list[Order]:
        """The customer's most recent orders, optionally only those containing ``product`` (substring)."""
        ...

    def change_address(self, order_id: str, *, customer_id: str, new_address: str) -> AddressChangeReceipt:
        """Raise AddressChangeRefused when the order has already left the warehouse."""
        ...

    def submit_return(self, order_id: str, *, customer_id: str, reason: str) -> ReturnReceipt:
        """Raise ReturnRefused (``dispute=True`` when a human must decide)."""
        ...

    def request_invoice(self, order_id: str, *, customer_id: str, title: str) -> InvoiceReceipt:
        """Raise InvoiceRefused."""
        ...
