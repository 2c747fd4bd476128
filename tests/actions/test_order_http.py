"""The HTTP order client against the reference shop order API, served for real by uvicorn on a free port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from actions.order_actions import ActionOrderStatus
from actions.returns import ActionSubmitReturn
from shop.demo_store import DemoOrderStore
from shop.order_api_server import create_app
from shop.order_http import HttpOrderService
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
from tests.actions.conftest import OWNER, customs, delivered_order, find_order, make_tracker, responses, run_action


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` with uvicorn in a thread on a free loopback port; yields the base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


class SlowShop:
    """A shop whose order system answers after ``delay`` seconds (the far side of the HTTP contract)."""

    def __init__(self, inner: OrderService, delay: float) -> None:
        self.inner, self.delay = inner, delay

    def get_order(self, order_id: str, *, customer_id: str) -> Order:
        time.sleep(self.delay)
        return self.inner.get_order(order_id, customer_id=customer_id)

    def find_orders(self, *, customer_id: str, product: str | None = None, limit: int = 5) -> list[Order]:
        time.sleep(self.delay)
        return self.inner.find_orders(customer_id=customer_id, product=product, limit=limit)

    def change_address(self, order_id: str, *, customer_id: str, new_address: str) -> AddressChangeReceipt:
        return self.inner.change_address(order_id, customer_id=customer_id, new_address=new_address)

    def submit_return(self, order_id: str, *, customer_id: str, reason: str) -> ReturnReceipt:
        return self.inner.submit_return(order_id, customer_id=customer_id, reason=reason)

    def request_invoice(self, order_id: str, *, customer_id: str, title: str) -> InvoiceReceipt:
        return self.inner.request_invoice(order_id, customer_id=customer_id, title=title)


@pytest.fixture()
def shop(store: DemoOrderStore) -> Iterator[str]:
    with serve(create_app(store, token="shop-secret")) as url:
        yield url


@pytest.fixture()
def client(shop: str) -> Iterator[HttpOrderService]:
    service = HttpOrderService(shop, timeout_s=5, token="shop-secret")
    yield service
    service.close()


def test_client_matches_the_store(client: HttpOrderService, store: DemoOrderStore) -> None:
    assert isinstance(client, OrderService)
    order_id = find_order(store, OWNER, "派送中")
    assert client.get_order(order_id, customer_id=OWNER) == store.get_order(order_id, customer_id=OWNER)
    mine = client.find_orders(customer_id=OWNER, limit=10)
    assert [o.order_id for o in mine] == [o.order_id for o in store.find_orders(customer_id=OWNER, limit=10)]
    product = mine[0].items[0].product
    assert mine[0].order_id in {o.order_id for o in client.find_orders(customer_id=OWNER, product=product)}
    assert client.find_orders(customer_id="nobody/../c0001") == []


def test_client_maps_errors_to_domain_errors(client: HttpOrderService, store: DemoOrderStore) -> None:
    order_id = find_order(store, OWNER, "运输中")
    with pytest.raises(OrderNotOwned):
        client.get_order(order_id, customer_id="c0002")
    with pytest.raises(OrderNotFound):
        client.get_order("2020010100000000", customer_id=OWNER)
    with pytest.raises(OrderNotFound):
        client.get_order("../admin", customer_id=OWNER)
    with pytest.raises(AddressChangeRefused) as refused:
        client.change_address(order_id, customer_id=OWNER, new_address="北京市朝阳区建国路88号")
    assert refused.value.status == "运输中"
    with pytest.raises(ReturnRefused) as late:
        client.submit_return(delivered_order(store, OWNER, within_period=False), customer_id=OWNER, reason="质量问题")
    assert late.value.dispute and late.value.code == "out_of_period" and "售后期" in late.value.reason
    with pytest.raises(InvoiceRefused) as unpaid:
        client.request_invoice(find_order(store, OWNER, "待付款"), customer_id=OWNER, title="个人")
    assert unpaid.value.code == "unpaid"


def test_client_writes(client: HttpOrderService, store: DemoOrderStore) -> None:
    waiting = find_order(store, OWNER, "待发货")
    assert client.change_address(waiting, customer_id=OWNER, new_address="北京市朝阳区建国路88号").new_address
    assert store.get_order(waiting, customer_id=OWNER).address == "北京市朝阳区建国路88号"
    ret = client.submit_return(delivered_order(store, OWNER, within_period=True), customer_id=OWNER, reason="不想要了")
    assert ret.return_id.startswith("RT")
    assert client.request_invoice(waiting, customer_id=OWNER, title="个人").title == "个人"


def test_wrong_token_and_server_errors_are_unavailability(shop: str, store: DemoOrderStore) -> None:
    order_id = find_order(store, OWNER, "运输中")
    with open_client(shop, token="wrong") as wrong:
        with pytest.raises(OrderServiceUnavailable, match="401"):
            wrong.get_order(order_id, customer_id=OWNER)
    broken = FastAPI()

    @broken.get("/orders/{order_id}")
    def _boom(order_id: str) -> dict[str, Any]:
        return {"order_id": order_id, "not": "an order"}

    with serve(broken) as url, open_client(url) as client:
        with pytest.raises(OrderServiceUnavailable, match="malformed"):
            client.get_order(order_id, customer_id=OWNER)


def test_timeouts(store: DemoOrderStore, domain: dict[str, Any]) -> None:
    order_id = find_order(store, OWNER, "运输中")
    with serve(create_app(SlowShop(store, delay=1.5))) as url:
        with open_client(url, timeout_s=0.3) as impatient:
            started = time.monotonic()
            with pytest.raises(OrderServiceUnavailable, match="timeout"):
                impatient.get_order(order_id, customer_id=OWNER)
            assert time.monotonic() - started < 1.2
            tracker = make_tracker(order_id, "inform", slots={"order_id": order_id})
            _, messages = run_action(ActionOrderStatus(impatient), tracker, domain)
            assert responses(messages) == ["utter_service_unavailable"]
        with open_client(url, timeout_s=5) as patient:
            assert patient.get_order(order_id, customer_id=OWNER).order_id == order_id


def test_actions_work_over_http(client: HttpOrderService, store: DemoOrderStore, domain: dict[str, Any]) -> None:
    order_id = delivered_order(store, OWNER, within_period=False)
    tracker = make_tracker("质量问题", "inform", slots={"order_id": order_id, "return_reason": "质量问题"})
    _, messages = run_action(ActionSubmitReturn(client), tracker, domain)
    assert responses(messages) == ["utter_return_refused", "utter_handoff"]
    assert customs(messages, "handoff")[0]["reason"] == "refund_dispute"


def test_raw_contract(shop: str, store: DemoOrderStore) -> None:
    """The documented status codes and error bodies, checked without the client."""
    headers = {"Authorization": "Bearer shop-secret"}
    order_id = find_order(store, OWNER, "运输中")
    ok = httpx.get(f"{shop}/orders/{order_id}", params={"customer_id": OWNER}, headers=headers)
    assert ok.status_code == 200 and ok.json()["status"] == "运输中"
    assert httpx.get(f"{shop}/orders/{order_id}", params={"customer_id": "c0002"}, headers=headers).json() == {
        "error": "order_not_owned", "message": f"order {order_id} does not belong to customer c0002",
        "order_id": order_id}
    assert httpx.get(f"{shop}/orders/123", params={"customer_id": OWNER}, headers=headers).status_code == 422
    refused = httpx.post(f"{shop}/orders/{order_id}/address", json={"customer_id": OWNER, "new_address": "x"},
                         headers=headers)
    assert refused.status_code == 409 and refused.json()["error"] == "address_change_refused"
    created = httpx.post(f"{shop}/orders/{find_order(store, OWNER, '待发货')}/invoices",
                         json={"customer_id": OWNER, "title": "个人"}, headers=headers)
    assert created.status_code == 201 and created.json()["invoice_id"].startswith("FP")
    assert httpx.get(f"{shop}/orders/{order_id}", params={"customer_id": OWNER}).status_code == 401


@contextmanager
def open_client(url: str, *, timeout_s: float = 5, token: str | None = None) -> Iterator[HttpOrderService]:
    service = HttpOrderService(url, timeout_s=timeout_s, token=token)
    try:
        yield service
    finally:
        service.close()
