"""HTTP client for a shop's own order API (selected by ``KEFU_ACTIONS_ORDER_API_URL``).

The contract (a reference server is ``shop/order_api_server.py``; JSON everywhere, times ISO 8601 shop time,
optional ``Authorization: Bearer <KEFU_ACTIONS_ORDER_API_TOKEN>``):

- ``GET  {base}/orders/{order_id}?customer_id=C`` -> 200 :class:`Order` (its optional ``address_changeable``: false
  makes the address flow say at once that the address can no longer change, before asking for the new one; its
  optional ``return_refusal``, a reason, makes the return flow say it at once, before asking why)
- ``GET  {base}/customers/{C}/orders?product=P&limit=N`` -> 200 ``{"orders": [Order, ...]}`` newest first,
  ``product`` a case-insensitive substring of a product name
- ``POST {base}/orders/{order_id}/address`` body ``{"customer_id": C, "new_address": "..."}``
  -> 200 :class:`AddressChangeReceipt` | 409 ``address_change_refused`` with ``status``
- ``POST {base}/orders/{order_id}/returns`` body ``{"customer_id": C, "reason": "..."}``
  -> 201 :class:`ReturnReceipt` | 409 ``return_refused`` with ``code``, ``reason`` (shown to the shopper) and
  ``dispute`` (true: a human must decide, e.g. outside the after-sale period)
- ``POST {base}/orders/{order_id}/invoices`` body ``{"customer_id": C, "title": "..."}``
  -> 201 :class:`InvoiceReceipt` | 409 ``invoice_refused`` with ``code`` and ``reason``

Errors are ``{"error": "<code>", "message": "...", ...}`` (:class:`ApiError`); 404/403 apply to every order route.
A timeout, a refused connection, any other status (5xx, 401 ...) or a body that does not match the contract raises
:class:`OrderServiceUnavailable`, so the bot apologises instead of guessing.
"""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, Field, ValidationError

from shop.orders import (
    AddressChangeReceipt,
    AddressChangeRefused,
    InvoiceReceipt,
    InvoiceRefused,
    Order,
    OrderNotFound,
    OrderNotOwned,
    OrderServiceUnavailable,
    ReturnReceipt,
    ReturnRefused,
    normalize_order_id,
)

M = TypeVar("M", bound=BaseModel)


# ---------------------------------------------------------------- wire models (shared with the reference server)


class AddressChangeRequest(BaseModel):
    customer_id: str = Field(min_length=1, max_length=64)
    new_address: str = Field(min_length=1, max_length=200)


class ReturnRequest(BaseModel):
    customer_id: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=500)


class InvoiceRequest(BaseModel):
    customer_id: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=100)


class OrderList(BaseModel):
    orders: list[Order]


class ApiError(BaseModel):
    error: str = Field(description="order_not_found order_not_owned address_change_refused return_refused ...")
    message: str = ""
    order_id: str | None = None
    status: str | None = None
    code: str | None = None
    reason: str | None = None
    dispute: bool | None = None


# ---------------------------------------------------------------- the client


class HttpOrderService:
    """:class:`shop.orders.OrderService` over a shop's order API. Thread-safe (one pooled httpx client)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 3.0,
        token: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 2.0)),
            headers=headers,
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    # ------------------------------------------------------------ plumbing
    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise OrderServiceUnavailable(f"timeout on {method} {path}") from exc
        except httpx.HTTPError as exc:
            raise OrderServiceUnavailable(f"{type(exc).__name__} on {method} {path}") from exc

    @staticmethod
    def _parse(model: type[M], response: httpx.Response) -> M:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise OrderServiceUnavailable(
                f"malformed {model.__name__} from {response.request.url} (HTTP {response.status_code})"
            ) from exc

    def _raise_for_error(self, response: httpx.Response, order_id: str, customer_id: str) -> None:
        """Map the contract's error statuses to domain errors; anything unexpected is an outage."""
        if response.status_code < 300:
            return
        if response.status_code == 404:
            raise OrderNotFound(order_id)
        if response.status_code == 403:
            raise OrderNotOwned(order_id, customer_id)
        if response.status_code == 409:
            err = self._parse(ApiError, response)
            if err.error == "address_change_refused" and err.status:
                raise AddressChangeRefused(order_id, err.status)
            if err.error == "return_refused" and err.code and err.reason:
                raise ReturnRefused(order_id, err.code, err.reason, dispute=bool(err.dispute))
            if err.error == "invoice_refused" and err.code and err.reason:
                raise InvoiceRefused(order_id, err.code, err.reason)
        raise OrderServiceUnavailable(f"HTTP {response.status_code} from {response.request.url}")

    @staticmethod
    def _checked_id(order_id: str) -> str:
        # only a well-formed number goes into a URL path; anything else cannot exist
        valid = normalize_order_id(order_id)
        if valid is None or valid != order_id:
            raise OrderNotFound(order_id)
        return valid

    # ------------------------------------------------------------ OrderService
    def get_order(self, order_id: str, *, customer_id: str) -> Order:
        oid = self._checked_id(order_id)
        response = self._request("GET", f"/orders/{oid}", params={"customer_id": customer_id})
        self._raise_for_error(response, oid, customer_id)
        order = self._parse(Order, response)
        if order.order_id != oid or order.customer_id != customer_id:
            # never show one shopper another shopper's order, whatever the backend says
            raise OrderNotOwned(oid, customer_id)
        return order

    def find_orders(self, *, customer_id: str, product: str | None = None, limit: int = 5) -> list[Order]:
        params: dict[str, Any] = {"limit": limit}
        if product:
            params["product"] = product
        response = self._request("GET", f"/customers/{quote(customer_id, safe='')}/orders", params=params)
        if response.status_code == 404:
            return []
        self._raise_for_error(response, "", customer_id)
        return [o for o in self._parse(OrderList, response).orders if o.customer_id == customer_id]

    def change_address(self, order_id: str, *, customer_id: str, new_address: str) -> AddressChangeReceipt:
        oid = self._checked_id(order_id)
        body = AddressChangeRequest(customer_id=customer_id, new_address=new_address)
        response = self._request("POST", f"/orders/{oid}/address", json=body.model_dump())
        self._raise_for_error(response, oid, customer_id)
        return self._parse(AddressChangeReceipt, response)

    def submit_return(self, order_id: str, *, customer_id: str, reason: str) -> ReturnReceipt:
        oid = self._checked_id(order_id)
        body = ReturnRequest(customer_id=customer_id, reason=reason)
        response = self._request("POST", f"/orders/{oid}/returns", json=body.model_dump())
        self._raise_for_error(response, oid, customer_id)
        return self._parse(ReturnReceipt, response)

    def request_invoice(self, order_id: str, *, customer_id: str, title: str) -> InvoiceReceipt:
        oid = self._checked_id(order_id)
        body = InvoiceRequest(customer_id=customer_id, title=title)
        response = self._request("POST", f"/orders/{oid}/invoices", json=body.model_dump())
        self._raise_for_error(response, oid, customer_id)
        return self._parse(InvoiceReceipt, response)
