"""Reference implementation of the "shop order API" that :class:`shop.order_http.HttpOrderService` calls.

Shops that have their own order system implement these routes (contract in ``shop/order_http.py``); this app
serves them from any :class:`shop.orders.OrderService`, by default the demo store, so the contract can be tried:

    .venv/bin/python -m shop.order_api_server --db var/demo/orders.db --port 8070
    KEFU_ACTIONS_ORDER_API_URL=http://127.0.0.1:8070 .venv/bin/python -m rasa_sdk --actions actions --port 5055
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.responses import JSONResponse

from shop.order_http import AddressChangeRequest, ApiError, InvoiceRequest, OrderList, ReturnRequest
from shop.orders import (
    AddressChangeReceipt,
    AddressChangeRefused,
    InvoiceReceipt,
    InvoiceRefused,
    Order,
    OrderNotFound,
    OrderNotOwned,
    OrderService,
    OrderServiceUnavailable,
    ReturnReceipt,
    ReturnRefused,
)

T = TypeVar("T")
OrderIdPath = Annotated[str, Path(pattern=r"^\d{16}$", description="16-digit order number")]


def _error(status: int, body: ApiError) -> JSONResponse:
    return JSONResponse(status_code=status, content=body.model_dump(exclude_none=True))


def create_app(service: OrderService, *, token: str | None = None) -> FastAPI:
    """The order API over ``service``; with ``token`` every request needs ``Authorization: Bearer <token>``."""
    app = FastAPI(title="kefu reference shop order API", version="1")

    async def check_token(authorization: Annotated[str | None, Header()] = None) -> None:
        if token is not None and not secrets.compare_digest(authorization or "", f"Bearer {token}"):
            raise _Unauthorized()

    async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    @app.exception_handler(_Unauthorized)
    async def _unauthorized(_: Request, __: _Unauthorized) -> JSONResponse:
        return _error(401, ApiError(error="unauthorized", message="missing or wrong bearer token"))

    @app.exception_handler(OrderNotFound)
    async def _not_found(_: Request, exc: OrderNotFound) -> JSONResponse:
        return _error(404, ApiError(error="order_not_found", message=str(exc), order_id=exc.order_id))

    @app.exception_handler(OrderNotOwned)
    async def _not_owned(_: Request, exc: OrderNotOwned) -> JSONResponse:
        return _error(403, ApiError(error="order_not_owned", message=str(exc), order_id=exc.order_id))

    @app.exception_handler(AddressChangeRefused)
    async def _address_refused(_: Request, exc: AddressChangeRefused) -> JSONResponse:
        return _error(409, ApiError(error="address_change_refused", message=str(exc), order_id=exc.order_id,
                                    status=exc.status))

    @app.exception_handler(ReturnRefused)
    async def _return_refused(_: Request, exc: ReturnRefused) -> JSONResponse:
        return _error(409, ApiError(error="return_refused", message=str(exc), order_id=exc.order_id, code=exc.code,
                                    reason=exc.reason, dispute=exc.dispute))

    @app.exception_handler(InvoiceRefused)
    async def _invoice_refused(_: Request, exc: InvoiceRefused) -> JSONResponse:
        return _error(409, ApiError(error="invoice_refused", message=str(exc), order_id=exc.order_id, code=exc.code,
                                    reason=exc.reason))

    @app.exception_handler(OrderServiceUnavailable)
    async def _unavailable(_: Request, exc: OrderServiceUnavailable) -> JSONResponse:
        return _error(503, ApiError(error="unavailable", message=exc.reason))

    auth = [Depends(check_token)]

    @app.get("/orders/{order_id}", response_model=Order, dependencies=auth)
    async def get_order(order_id: OrderIdPath, customer_id: Annotated[str, Query(min_length=1)]) -> Order:
        return await call(service.get_order, order_id, customer_id=customer_id)

    @app.get("/customers/{customer_id}/orders", response_model=OrderList, dependencies=auth)
    async def find_orders(
        customer_id: str,
        product: Annotated[str | None, Query(max_length=100)] = None,
        limit: Annotated[int, Query(ge=1, le=50)] = 5,
    ) -> OrderList:
        orders = await call(service.find_orders, customer_id=customer_id, product=product, limit=limit)
        return OrderList(orders=orders)

    @app.post("/orders/{order_id}/address", response_model=AddressChangeReceipt, dependencies=auth)
    async def change_address(order_id: OrderIdPath, body: AddressChangeRequest) -> AddressChangeReceipt:
        return await call(service.change_address, order_id, customer_id=body.customer_id,
                          new_address=body.new_address)

    @app.post("/orders/{order_id}/returns", response_model=ReturnReceipt, status_code=201, dependencies=auth)
    async def submit_return(order_id: OrderIdPath, body: ReturnRequest) -> ReturnReceipt:
        return await call(service.submit_return, order_id, customer_id=body.customer_id, reason=body.reason)

    @app.post("/orders/{order_id}/invoices", response_model=InvoiceReceipt, status_code=201, dependencies=auth)
    async def request_invoice(order_id: OrderIdPath, body: InvoiceRequest) -> InvoiceReceipt:
        return await call(service.request_invoice, order_id, customer_id=body.customer_id, title=body.title)

    return app


class _Unauthorized(Exception):
    pass


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - thin CLI wrapper
    import uvicorn

    from shop.demo_store import DemoOrderStore
    from shop.settings import DEFAULT_DB

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", default=str(DEFAULT_DB), help="demo store SQLite file (seed it with kefu demo seed)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8070)
    parser.add_argument("--token", default=None, help="require this bearer token")
    args = parser.parse_args(argv)
    store = DemoOrderStore.from_url(f"sqlite:///{args.db}")
    uvicorn.run(create_app(store, token=args.token), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":  # pragma: no cover
    main()
