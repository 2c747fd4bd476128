"""The demo product catalog and the deterministic seeding of the demo order store (``kefu demo seed``)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from shop.demo_store import (
    Customer,
    DemoBase,
    DemoOrderStore,
    InvoiceRow,
    OrderItemRow,
    OrderRow,
    Product,
    ReturnRow,
    SeedInfo,
    load_policy,
    now_cst,
)

DATA_DIR = Path(__file__).resolve().parent / "data"
CATALOG_PATH = DATA_DIR / "catalog.yml"
SEED_DATA_PATH = DATA_DIR / "demo_seed.yml"


@dataclass(frozen=True)
class CatalogProduct:
    id: str
    name: str
    category: str
    price: float
    return_days: int
    aliases: tuple[str, ...]


@lru_cache
def load_catalog(path: Path = CATALOG_PATH) -> tuple[CatalogProduct, ...]:
    """The catalog in file order; product ids ``p001``.. follow that order (stable across runs)."""
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    products: list[CatalogProduct] = []
    for category in data["categories"]:
        for item in category["products"]:
            products.append(
                CatalogProduct(
                    id=f"p{len(products) + 1:03d}",
                    name=str(item["name"]),
                    category=str(category["name"]),
                    price=float(item["price"]),
                    return_days=int(category["return_days"]),
                    aliases=tuple(str(a) for a in item.get("aliases", [])),
                )
            )
    return tuple(products)


@dataclass(frozen=True)
class SeedReport:
    created: bool
    customers: int
    products: int
    orders: int


@lru_cache
def load_seed_data(path: Path = SEED_DATA_PATH) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        data: dict[str, Any] = yaml.safe_load(fh)
    return data


class _Seeder:
    def __init__(self, *, n_orders: int, seed: int, now: datetime) -> None:
        self.rng = random.Random(seed)
        self.now = now.replace(microsecond=0)
        self.n_orders = n_orders
        self.data = load_seed_data()
        self.catalog = load_catalog()
        self.city_of: dict[str, str] = {}
        self.statuses: dict[str, dict[str, Any]] = self.data["statuses"]
        self.showcase: list[tuple[str, float]] = [(str(s), float(age)) for s, age in self.data["showcase"]]
        excluded = set(self.data.get("showcase_exclude_categories", []))
        self.showcase_pool = [p for p in self.catalog if p.category not in excluded]
        self.return_status: dict[str, str] = load_policy()["return_status"]

    def customers(self) -> list[Customer]:
        rng, d = self.rng, self.data
        n = max(10, self.n_orders // 4)
        phones: set[str] = set()
        out: list[Customer] = []
        for i in range(n):
            phone = ""
            while not phone or phone in phones:
                phone = f"{rng.choice(d['phone_prefixes'])}{rng.randrange(10**8):08d}"
            phones.add(phone)
            province, city, district, streets = rng.choice(d["addresses"])
            room = f"{rng.randint(1, 32)}{rng.randint(1, 4):02d}室"
            place = f"{province}{city}" if province != city else city
            address = f"{place}{district}{rng.choice(streets)}{rng.choice(d['buildings'])}{room}"
            name = rng.choice(d["surnames"]) + rng.choice(d["given_names"])
            out.append(Customer(id=f"c{i + 1:04d}", name=name, phone=phone, address=address))
            self.city_of[out[-1].id] = str(city)
        return out

    def products(self) -> list[Product]:
        return [
            Product(
                id=p.id, name=p.name, category=p.category, price_cents=round(p.price * 100), return_days=p.return_days
            )
            for p in self.catalog
        ]

    def _pick_status(self) -> str:
        names = list(self.statuses)
        return self.rng.choices(names, weights=[self.statuses[s]["weight"] for s in names])[0]

    def _order(self, i: int, customer: Customer, status: str, age_hours: float) -> OrderRow:
        rng, d = self.rng, self.data
        created = self.now - timedelta(minutes=round(age_hours * 60) + rng.randint(0, 59))
        created = max(created, self.now - timedelta(days=60))
        # showcase orders avoid short return periods so their return behaviour is predictable
        pool = self.showcase_pool if i < len(self.showcase) else list(self.catalog)
        spec = self.statuses[status]
        n_items = rng.choices([1, 2, 3], weights=[75, 20, 5])[0]
        picked = rng.sample(pool, n_items)
        items = [
            OrderItemRow(
                product_id=p.id, quantity=rng.choice([1, 1, 1, 2]) if p.price < 300 else 1,
                unit_price_cents=round(p.price * 100),
            )
            for p in picked
        ]
        row = OrderRow(
            id=f"{created:%Y%m%d}{i + 1:03d}{rng.randrange(10**5):05d}",
            customer_id=customer.id,
            status=status,
            address=customer.address,
            total_cents=sum(it.quantity * it.unit_price_cents for it in items),
            created_at=created,
            items=items,
        )
        fmt: dict[str, Any] = {"created": created, "hub": rng.choice(d["hubs"]), "courier": rng.choice(d["couriers"])}
        fmt["courier_phone"] = f"{rng.choice(d['phone_prefixes'])}****{rng.randrange(10**4):04d}"
        fmt["city"] = self.city_of[customer.id]
        if spec.get("shipped"):
            carrier, prefix, digits = rng.choice(d["carriers"])
            row.carrier = str(carrier)
            row.tracking_no = f"{prefix}{rng.randrange(10 ** int(digits)):0{int(digits)}d}"
            row.shipped_at = min(created + timedelta(minutes=rng.randint(240, 1800)), self.now - timedelta(hours=2))
            fmt.update(carrier=row.carrier, tracking_no=row.tracking_no, shipped=row.shipped_at)
        if spec.get("delivered") and row.shipped_at is not None:
            delivered = row.shipped_at + timedelta(minutes=rng.randint(1200, 5400))
            row.delivered_at = min(delivered, self.now - timedelta(hours=1))
            fmt["delivered"] = row.delivered_at
        row.detail = str(spec["detail"]).format(**fmt)
        if spec.get("pending_return"):
            reason = rng.choice(d["return_reasons"])
            row.returns = [ReturnRow(id=f"RT{row.id[-10:]}01", order_id=row.id, reason=reason,
                                     status=self.return_status["pending"], created_at=row.delivered_at or created)]
        elif spec.get("after_sale") and i >= len(self.showcase):
            roll = rng.random()
            if roll < 0.08:  # a refused earlier return: asking again is a dispute for an agent
                row.returns = [ReturnRow(id=f"RT{row.id[-10:]}01", order_id=row.id,
                                         reason=rng.choice(d["return_reasons"]), status=self.return_status["rejected"],
                                         created_at=(row.delivered_at or created) + timedelta(days=1))]
            elif roll < 0.23:
                title = rng.choice(d["invoice_titles"])
                row.invoices = [InvoiceRow(id=f"FP{row.id[-10:]}01", order_id=row.id, title=title,
                                           created_at=row.delivered_at or created)]
        return row

    def orders(self, customers: list[Customer]) -> list[OrderRow]:
        out: list[OrderRow] = []
        for i in range(self.n_orders):
            if i < len(self.showcase):
                status, age_days = self.showcase[i]
                out.append(self._order(i, customers[0], status, age_days * 24))
                continue
            status = self._pick_status()
            lo, hi = self.statuses[status]["age_hours"]
            out.append(self._order(i, self.rng.choice(customers), status, self.rng.uniform(lo, hi)))
        return out


def seed_demo_store(
    store: DemoOrderStore, *, n_orders: int = 400, seed: int = 7, now: datetime | None = None, force: bool = False
) -> SeedReport:
    """Fill the demo store deterministically; a second run with the same parameters changes nothing.

    Different parameters (or ``force``) replace the demo data. ``now`` defaults to the current shop time.
    """
    if n_orders < 1:
        raise ValueError("n_orders must be >= 1")
    params = json.dumps({"orders": n_orders, "seed": seed, "catalog": len(load_catalog())})
    with store.session_factory() as session, session.begin():
        info = session.get(SeedInfo, "params")
        if info is not None and info.value == params and not force:
            return _report(session, created=False)
        for table in reversed(DemoBase.metadata.sorted_tables):
            session.execute(delete(table))
        session.expunge_all()
        seeder = _Seeder(n_orders=n_orders, seed=seed, now=now or now_cst())
        customers = seeder.customers()
        session.add_all(customers)
        session.add_all(seeder.products())
        session.flush()
        session.add_all(seeder.orders(customers))
        session.add(SeedInfo(key="params", value=params))
        session.flush()
        return _report(session, created=True)


def _report(session: Session, *, created: bool) -> SeedReport:
    def count(model: type[DemoBase]) -> int:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)

    return SeedReport(created=created, customers=count(Customer), products=count(Product), orders=count(OrderRow))
