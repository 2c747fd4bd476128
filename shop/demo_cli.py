"""``kefu demo``: the demo order store (seed it, look at a customer's orders)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from shop.demo_data import seed_demo_store
from shop.demo_store import DemoOrderStore
from shop.settings import DEFAULT_DB

app = typer.Typer(help="Demo order store used by the actions when no shop order API is configured.",
                  no_args_is_help=True)

DbOption = Annotated[Path, typer.Option("--db", help="SQLite file of the demo store")]


def _store(db: Path) -> DemoOrderStore:
    return DemoOrderStore.from_url(f"sqlite:///{db.resolve()}")


@app.command()
def seed(
    db: DbOption = DEFAULT_DB,
    orders: Annotated[int, typer.Option("--orders", min=1, max=100_000, help="number of orders")] = 400,
    seed: Annotated[int, typer.Option("--seed", help="random seed (same seed -> same data)")] = 7,
    now: Annotated[datetime | None, typer.Option("--now", help="reference shop time; default: now")] = None,
    force: Annotated[bool, typer.Option("--force", help="re-create the data even if already seeded")] = False,
) -> None:
    """Seed the demo store with customers c0001.., the catalog and realistic orders (idempotent)."""
    store = _store(db)
    try:
        report = seed_demo_store(store, n_orders=orders, seed=seed, now=now, force=force)
    finally:
        store.close()
    verb = "seeded" if report.created else "already seeded, unchanged"
    typer.echo(f"{db}: {verb}: {report.customers} customers, {report.products} products, {report.orders} orders")


@app.command("orders")
def list_orders(
    customer: Annotated[str, typer.Argument(help="customer id")] = "c0001",
    db: DbOption = DEFAULT_DB,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 20,
) -> None:
    """Print a customer's most recent orders (handy for demos)."""
    if not db.exists():
        typer.echo(f"{db} does not exist; run `kefu demo seed --db {db}` first", err=True)
        raise typer.Exit(1)
    for order in _store(db).find_orders(customer_id=customer, limit=limit):
        typer.echo(f"{order.order_id}  {order.status:<4}  {order.created_at:%Y-%m-%d %H:%M}  {order.product}")
