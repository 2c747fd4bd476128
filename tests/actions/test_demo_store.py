"""The demo order store: deterministic, idempotent seeding and the order-service rules on a real SQLite."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from shop.demo_cli import app as demo_app
from shop.demo_data import load_catalog, load_seed_data, seed_demo_store
from shop.demo_store import Customer, DemoOrderStore, OrderRow
from shop.orders import (
    AddressChangeRefused,
    InvoiceRefused,
    OrderNotFound,
    OrderNotOwned,
    OrderService,
    OrderServiceUnavailable,
    ReturnRefused,
)
from tests.actions.conftest import NOW, OWNER, delivered_order, find_order

STATUSES = {"待付款", "待发货", "已发货", "运输中", "派送中", "已签收", "已取消", "退款中"}


def dump(store: DemoOrderStore) -> list[tuple[object, ...]]:
    with store.session_factory() as session:
        rows = session.scalars(select(OrderRow).order_by(OrderRow.id)).all()
        return [(r.id, r.customer_id, r.status, r.detail, r.address, r.total_cents, r.carrier, r.tracking_no,
                 r.created_at, r.shipped_at, r.delivered_at, tuple((i.product_id, i.quantity) for i in r.items))
                for r in rows]


def fresh(tmp_path: Path, name: str) -> DemoOrderStore:
    return DemoOrderStore.from_url(f"sqlite:///{tmp_path / name}", clock=lambda: NOW)


def test_catalog_is_realistic() -> None:
    catalog = load_catalog()
    assert 140 <= len(catalog) <= 200
    assert {"手机", "耳机", "家电", "服饰", "美妆", "生鲜", "母婴", "图书"} <= {p.category for p in catalog}
    assert len({p.name for p in catalog}) == len(catalog)
    assert all(p.price > 0 and p.return_days >= 1 for p in catalog)


def test_seed_is_deterministic(tmp_path: Path) -> None:
    a, b, c = fresh(tmp_path, "a.db"), fresh(tmp_path, "b.db"), fresh(tmp_path, "c.db")
    seed_demo_store(a, n_orders=200, seed=7, now=NOW)
    seed_demo_store(b, n_orders=200, seed=7, now=NOW)
    seed_demo_store(c, n_orders=200, seed=8, now=NOW)
    assert dump(a) == dump(b)
    assert dump(a) != dump(c)


def test_seed_is_idempotent_and_reseeds_on_new_parameters(tmp_path: Path) -> None:
    store = fresh(tmp_path, "o.db")
    first = seed_demo_store(store, n_orders=120, seed=3, now=NOW)
    before = dump(store)
    again = seed_demo_store(store, n_orders=120, seed=3, now=NOW + timedelta(days=1))
    assert first.created and not again.created
    assert (again.orders, again.customers, again.products) == (120, first.customers, first.products)
    assert dump(store) == before
    bigger = seed_demo_store(store, n_orders=150, seed=3, now=NOW)
    assert bigger.created and bigger.orders == 150


def test_seeded_orders_are_consistent(store: DemoOrderStore) -> None:
    with store.session_factory() as session:
        orders = session.scalars(select(OrderRow)).all()
        customers = session.scalars(select(Customer)).all()
        assert len(orders) == 400
        assert len(customers) == 100
        assert [c.id for c in customers][:2] == ["c0001", "c0002"]
        assert all(re.fullmatch(r"1[3-9]\d{9}", c.phone) for c in customers)
        assert {o.status for o in orders} == STATUSES
        for o in orders:
            assert re.fullmatch(r"\d{16}", o.id) and o.id.startswith(f"{o.created_at:%Y%m%d}")
            assert NOW - timedelta(days=60) <= o.created_at <= NOW
            assert o.detail and o.items and o.total_cents > 0
            shipped = o.status in {"已发货", "运输中", "派送中", "已签收", "退款中"}
            assert (o.carrier is not None and o.tracking_no is not None) == shipped
            if o.tracking_no and o.status != "退款中":
                assert o.tracking_no in o.detail
            if o.status == "已签收":
                assert o.shipped_at is not None and o.delivered_at is not None
                assert o.created_at < o.shipped_at < o.delivered_at <= NOW
    # the showcase customer has one order of every status (demos and end-to-end tests rely on it)
    showcase = {status for status, _ in load_seed_data()["showcase"]}
    assert showcase == STATUSES
    assert {o.status for o in store.find_orders(customer_id=OWNER, limit=50)} >= showcase


def test_lookup_checks_existence_and_ownership(store: DemoOrderStore) -> None:
    assert isinstance(store, OrderService)
    order_id = find_order(store, OWNER, "运输中")
    order = store.get_order(order_id, customer_id=OWNER)
    assert order.status == "运输中" and order.carrier and order.tracking_no
    with pytest.raises(OrderNotOwned):
        store.get_order(order_id, customer_id="c0002")
    with pytest.raises(OrderNotFound):
        store.get_order("2026010100000000", customer_id=OWNER)


def test_address_change_only_before_shipping(store: DemoOrderStore) -> None:
    waiting = find_order(store, OWNER, "待发货")
    receipt = store.change_address(waiting, customer_id=OWNER, new_address="上海市徐汇区漕溪北路88号5号楼1201室")
    assert store.get_order(waiting, customer_id=OWNER).address == receipt.new_address
    moving = find_order(store, OWNER, "运输中")
    with pytest.raises(AddressChangeRefused) as refused:
        store.change_address(moving, customer_id=OWNER, new_address="上海市徐汇区漕溪北路88号")
    assert refused.value.status == "运输中"


def test_return_rules(store: DemoOrderStore) -> None:
    recent = delivered_order(store, OWNER, within_period=True)
    old = delivered_order(store, OWNER, within_period=False)
    receipt = store.submit_return(recent, customer_id=OWNER, reason="尺码不合适")
    assert receipt.return_id.startswith("RT") and receipt.status == "处理中"
    with pytest.raises(ReturnRefused) as again:
        store.submit_return(recent, customer_id=OWNER, reason="尺码不合适")
    assert again.value.code == "already_requested" and not again.value.dispute
    assert receipt.return_id in again.value.reason
    with pytest.raises(ReturnRefused) as late:
        store.submit_return(old, customer_id=OWNER, reason="不想要了")
    assert late.value.code == "out_of_period" and late.value.dispute
    with pytest.raises(ReturnRefused) as early:
        store.submit_return(find_order(store, OWNER, "运输中"), customer_id=OWNER, reason="不想要了")
    assert early.value.code == "not_delivered" and not early.value.dispute and "运输中" in early.value.reason


def test_an_earlier_rejected_return_is_a_dispute(store: DemoOrderStore) -> None:
    with store.session_factory() as session:
        row = session.scalars(select(OrderRow).where(OrderRow.returns.any(status="已拒绝"))).first()
        assert row is not None
        order_id, customer = row.id, row.customer_id
    with pytest.raises(ReturnRefused) as disputed:
        store.submit_return(order_id, customer_id=customer, reason="质量问题")
    assert disputed.value.code == "disputed" and disputed.value.dispute


def test_invoice_rules(store: DemoOrderStore) -> None:
    order_id = find_order(store, OWNER, "待发货")
    receipt = store.request_invoice(order_id, customer_id=OWNER, title="杭州云杉科技有限公司")
    assert receipt.title == "杭州云杉科技有限公司"
    with pytest.raises(InvoiceRefused) as twice:
        store.request_invoice(order_id, customer_id=OWNER, title="个人")
    assert twice.value.code == "already_issued"
    with pytest.raises(InvoiceRefused) as unpaid:
        store.request_invoice(find_order(store, OWNER, "待付款"), customer_id=OWNER, title="个人")
    assert unpaid.value.code == "unpaid"


def test_find_orders_by_product(store: DemoOrderStore) -> None:
    order = store.find_orders(customer_id=OWNER, limit=1)[0]
    product = order.items[0].product
    found = store.find_orders(customer_id=OWNER, product=product.lower(), limit=50)
    assert order.order_id in {o.order_id for o in found}
    assert all(any(product in i.product for i in o.items) for o in found)
    assert store.find_orders(customer_id=OWNER, product="不存在的商品名") == []
    assert store.find_orders(customer_id=OWNER, product="%") == []  # LIKE wildcards are literal


def test_cli_seed_is_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    runner = CliRunner()
    first = runner.invoke(demo_app, ["seed", "--db", str(db), "--orders", "60", "--seed", "7"])
    second = runner.invoke(demo_app, ["seed", "--db", str(db), "--orders", "60", "--seed", "7"])
    assert first.exit_code == 0 and "seeded: " in first.output and "60 orders" in first.output
    assert second.exit_code == 0 and "already seeded" in second.output
    listing = runner.invoke(demo_app, ["orders", "c0001", "--db", str(db)])
    assert listing.exit_code == 0 and re.search(r"\d{16}", listing.output)
    missing = runner.invoke(demo_app, ["orders", "c0001", "--db", str(tmp_path / "none.db")])
    assert missing.exit_code == 1


def test_backend_choice_from_settings(tmp_path: Path, store: DemoOrderStore) -> None:
    from shop.order_http import HttpOrderService
    from shop.settings import OrderSettings, build_order_service

    missing = tmp_path / "never-seeded" / "orders.db"
    empty = build_order_service(OrderSettings(orders_db_url=f"sqlite:///{missing}"))
    assert isinstance(empty, DemoOrderStore) and empty.is_empty()
    with pytest.raises(OrderServiceUnavailable, match="kefu demo seed"):
        empty.get_order("2026112400012345", customer_id=OWNER)
    assert not missing.exists(), "the action server must not create an empty demo database"
    seed_demo_store(DemoOrderStore.from_url(f"sqlite:///{missing}"), n_orders=20, seed=1, now=NOW)
    assert not empty.is_empty()  # seeded after start: picked up without a restart
    assert not store.is_empty()
    http = build_order_service(OrderSettings(order_api_url="http://127.0.0.1:9/shop/", order_api_timeout_s=1))
    assert isinstance(http, HttpOrderService)
    http.close()
