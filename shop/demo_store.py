"""The demo order store: a small shop order system on SQLAlchemy 2 + SQLite, the default :class:`OrderService`.

It has its own declarative base (it is the *shop's* data, not the router's) and is filled by ``kefu demo seed``
(:mod:`shop.demo_data`). Timestamps are naive China Standard Time, the shop's local time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, selectinload, sessionmaker

from shop.db import make_engine
from shop.orders import (
    AddressChangeReceipt,
    AddressChangeRefused,
    InvoiceReceipt,
    InvoiceRefused,
    Order,
    OrderItem,
    OrderNotFound,
    OrderNotOwned,
    OrderServiceUnavailable,
    ReturnReceipt,
    ReturnRefused,
)

CST = timezone(timedelta(hours=8))
POLICY_PATH = Path(__file__).resolve().parent / "data" / "policy.yml"


def _sqlite_file(url: str) -> Path | None:
    """The database file of a ``sqlite:///path`` URL (None for other databases and in-memory SQLite)."""
    if not url.startswith("sqlite") or "///" not in url:
        return None
    path = url.split("///", 1)[1].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def now_cst() -> datetime:
    """The shop's local wall-clock time (naive, UTC+8)."""
    return datetime.now(CST).replace(tzinfo=None, microsecond=0)


class DemoBase(DeclarativeBase):
    """Declarative base of the demo shop tables only (never mixed with the router's ``Base``)."""


class Customer(DemoBase):
    __tablename__ = "customers"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(32))
    phone: Mapped[str] = mapped_column(String(16), unique=True)
    address: Mapped[str] = mapped_column(String(200))


class Product(DemoBase):
    __tablename__ = "products"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    category: Mapped[str] = mapped_column(String(32), index=True)
    price_cents: Mapped[int] = mapped_column(Integer)
    return_days: Mapped[int] = mapped_column(Integer)


class OrderRow(DemoBase):
    __tablename__ = "orders"
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str] = mapped_column(String(200))
    total_cents: Mapped[int] = mapped_column(Integer)
    carrier: Mapped[str | None] = mapped_column(String(32))
    tracking_no: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    shipped_at: Mapped[datetime | None] = mapped_column(DateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)
    items: Mapped[list[OrderItemRow]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderItemRow.id"
    )
    returns: Mapped[list[ReturnRow]] = relationship(cascade="all, delete-orphan", order_by="ReturnRow.created_at")
    invoices: Mapped[list[InvoiceRow]] = relationship(cascade="all, delete-orphan", order_by="InvoiceRow.created_at")


class OrderItemRow(DemoBase):
    __tablename__ = "order_items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(Integer)
    order: Mapped[OrderRow] = relationship(back_populates="items")
    product: Mapped[Product] = relationship(lazy="joined")


class ReturnRow(DemoBase):
    __tablename__ = "returns"
    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class InvoiceRow(DemoBase):
    __tablename__ = "invoices"
    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    title: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class SeedInfo(DemoBase):
    """Parameters of the last ``kefu demo seed`` run (makes seeding idempotent)."""

    __tablename__ = "seed_info"
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


@lru_cache
def load_policy(path: Path = POLICY_PATH) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        data: dict[str, Any] = yaml.safe_load(fh)
    return data


def _yuan(cents: int) -> float:
    return round(cents / 100, 2)


def address_changeable(policy: dict[str, Any], status: str) -> bool:
    """Whether the shop's policy still lets an order in ``status`` change its delivery address."""
    return status in policy["address_change_allowed"]


def status_return_refusal(policy: dict[str, Any], status: str) -> tuple[str, dict[str, Any]] | None:
    """The return refusal that an order's status alone decides (its code and the values of its text), or None."""
    by_status: dict[str, str] = policy["return_refusal_by_status"]
    if status in by_status:
        return by_status[status], {}
    if status not in policy["return_allowed"]:
        return "not_delivered", {"status": status}
    return None


def return_refusal_text(policy: dict[str, Any], code: str, **fmt: Any) -> str:
    template = policy["return_refusals"][code][0]
    return str(template).format(**fmt)


def to_order(row: OrderRow, policy: dict[str, Any]) -> Order:
    """Map a row (with items loaded) to the wire/domain model (``policy``: whether its address may change, and a
    return its status rules out)."""
    refusal = status_return_refusal(policy, row.status)
    return Order(
        order_id=row.id,
        customer_id=row.customer_id,
        status=row.status,
        detail=row.detail,
        items=[
            OrderItem(
                product=item.product.name,
                category=item.product.category,
                quantity=item.quantity,
                unit_price=_yuan(item.unit_price_cents),
            )
            for item in row.items
        ],
        total=_yuan(row.total_cents),
        address=row.address,
        carrier=row.carrier,
        tracking_no=row.tracking_no,
        created_at=row.created_at,
        shipped_at=row.shipped_at,
        delivered_at=row.delivered_at,
        address_changeable=address_changeable(policy, row.status),
        return_refusal=None if refusal is None else return_refusal_text(policy, refusal[0], **refusal[1]),
    )


class DemoOrderStore:
    """:class:`shop.orders.OrderService` over the demo SQLite (or any SQLAlchemy) database."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        clock: Callable[[], datetime] = now_cst,
        policy_path: Path = POLICY_PATH,
        missing: Path | None = None,
    ) -> None:
        self._missing = missing
        self._factory = factory
        self._clock = clock
        self._policy = load_policy(policy_path)

    @classmethod
    def from_url(cls, url: str, *, clock: Callable[[], datetime] = now_cst, create: bool = True) -> DemoOrderStore:
        """Open the store at ``url``; ``create=False`` never creates a missing SQLite file (the action server must
        not leave an empty ``var/demo/orders.db`` behind that would stop ``make`` from seeding it)."""
        path = _sqlite_file(url)
        if not create and path is not None and not path.exists():
            return cls(sessionmaker(expire_on_commit=False), clock=clock, missing=path)
        engine = make_engine(url)
        if create:
            DemoBase.metadata.create_all(engine)
        return cls(sessionmaker(engine, expire_on_commit=False), clock=clock)

    @property
    def session_factory(self) -> sessionmaker[Session]:
        return self._factory

    def close(self) -> None:
        """Close every pooled connection (SQLite then folds its WAL into the database file)."""
        bind = self._factory.kw.get("bind")
        if bind is not None:
            bind.dispose()

    def is_empty(self) -> bool:
        """True when the store holds no order (file missing, no tables, or not seeded yet)."""
        try:
            result: bool = self._run(lambda s: s.scalars(select(OrderRow.id).limit(1)).first() is None)
        except OrderServiceUnavailable:
            return True
        return result

    # ------------------------------------------------------------ helpers
    def _session(self) -> Session:
        return self._factory()

    def _owned_row(self, session: Session, order_id: str, customer_id: str) -> OrderRow:
        row = session.get(
            OrderRow, order_id, options=[selectinload(OrderRow.items), selectinload(OrderRow.returns)]
        )
        if row is None:
            raise OrderNotFound(order_id)
        if row.customer_id != customer_id:
            raise OrderNotOwned(order_id, customer_id)
        return row

    def _run(self, fn: Callable[[Session], Any]) -> Any:
        """One transaction; database failures become OrderServiceUnavailable, domain errors pass through."""
        if self._missing is not None:
            if not self._missing.exists():
                raise OrderServiceUnavailable(f"demo store {self._missing} does not exist (run `kefu demo seed`)")
            # seeded after the action server started: open it now
            self._factory = sessionmaker(make_engine(f"sqlite:///{self._missing}"), expire_on_commit=False)
            self._missing = None
        session = self._session()
        try:
            result = fn(session)
            session.commit()
            return result
        except SQLAlchemyError as exc:
            session.rollback()
            raise OrderServiceUnavailable(f"demo store: {type(exc).__name__}") from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    # ------------------------------------------------------------ OrderService
    def get_order(self, order_id: str, *, customer_id: str) -> Order:
        result: Order = self._run(lambda s: to_order(self._owned_row(s, order_id, customer_id), self._policy))
        return result

    def find_orders(self, *, customer_id: str, product: str | None = None, limit: int = 5) -> list[Order]:
        def query(session: Session) -> list[Order]:
            stmt = select(OrderRow).where(OrderRow.customer_id == customer_id)
            if product:
                stmt = stmt.where(
                    OrderRow.items.any(
                        OrderItemRow.product.has(func.lower(Product.name).contains(product.lower(), autoescape=True))
                    )
                )
            stmt = stmt.options(selectinload(OrderRow.items)).order_by(OrderRow.created_at.desc()).limit(limit)
            return [to_order(row, self._policy) for row in session.scalars(stmt)]

        result: list[Order] = self._run(query)
        return result

    def change_address(self, order_id: str, *, customer_id: str, new_address: str) -> AddressChangeReceipt:
        def change(session: Session) -> AddressChangeReceipt:
            row = self._owned_row(session, order_id, customer_id)
            if not address_changeable(self._policy, row.status):
                raise AddressChangeRefused(order_id, row.status)
            row.address = new_address.strip()
            return AddressChangeReceipt(order_id=order_id, new_address=row.address)

        result: AddressChangeReceipt = self._run(change)
        return result

    def submit_return(self, order_id: str, *, customer_id: str, reason: str) -> ReturnReceipt:
        refusals: dict[str, list[Any]] = self._policy["return_refusals"]

        def refuse(code: str, **fmt: Any) -> ReturnRefused:
            dispute = refusals[code][1]
            return ReturnRefused(order_id, code, return_refusal_text(self._policy, code, **fmt), dispute=bool(dispute))

        def submit(session: Session) -> ReturnReceipt:
            row = self._owned_row(session, order_id, customer_id)
            states: dict[str, str] = self._policy["return_status"]
            pending = [r for r in row.returns if r.status == states["pending"]]
            by_status = status_return_refusal(self._policy, row.status)  # also told when the return flow starts
            if by_status is not None:
                raise refuse(by_status[0], **by_status[1])
            if pending:
                raise refuse("already_requested", return_id=pending[0].id)
            if any(r.status == states["rejected"] for r in row.returns):
                raise refuse("disputed")
            days = min(item.product.return_days for item in row.items)
            delivered = row.delivered_at or row.created_at
            if self._clock() - delivered > timedelta(days=days):
                raise refuse("out_of_period", days=days)
            ret = ReturnRow(
                id=f"RT{order_id[-10:]}{len(row.returns) + 1:02d}",
                order_id=order_id,
                reason=reason.strip()[:500],
                status=states["pending"],
                created_at=self._clock(),
            )
            session.add(ret)
            return ReturnReceipt(order_id=order_id, return_id=ret.id, status=ret.status)

        result: ReturnReceipt = self._run(submit)
        return result

    def request_invoice(self, order_id: str, *, customer_id: str, title: str) -> InvoiceReceipt:
        reasons: dict[str, str] = self._policy["invoice_refusals"]

        def issue(session: Session) -> InvoiceReceipt:
            row = self._owned_row(session, order_id, customer_id)
            existing = session.scalars(select(InvoiceRow).where(InvoiceRow.order_id == order_id)).all()
            if row.status not in self._policy["invoice_allowed"]:
                code = self._policy["invoice_refusal_by_status"].get(row.status, "cancelled")
                raise InvoiceRefused(order_id, code, reasons[code])
            if existing:
                raise InvoiceRefused(
                    order_id, "already_issued", reasons["already_issued"].format(title=existing[0].title)
                )
            inv = InvoiceRow(
                id=f"FP{order_id[-10:]}01", order_id=order_id, title=title.strip()[:100], created_at=self._clock()
            )
            session.add(inv)
            return InvoiceReceipt(order_id=order_id, invoice_id=inv.id, title=inv.title)

        result: InvoiceReceipt = self._run(issue)
        return result
