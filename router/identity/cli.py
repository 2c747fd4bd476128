"""``kefu customer export ID`` / ``kefu customer erase ID`` (personal data requests) and ``kefu channel-key rotate
CHANNEL`` (the shop backend's key for the app or mini-program channel)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session, sessionmaker

from router.db import make_engine, make_session_factory
from router.identity.erasure import CustomerNotFound, erase_customer, export_customer
from router.identity.service import KEY_CHANNELS, IdentityService
from router.migrate import upgrade
from router.settings import get_settings

app = typer.Typer(help="One customer's personal data: export or erase.", add_completion=False)
keys_app = typer.Typer(help="Channel keys of the shop's backend (X-Kefu-Channel-Key).", add_completion=False)
DbOption = Annotated[str | None, typer.Option("--db", help="database URL (default: KEFU_ROUTER_DATABASE_URL)")]


def _sessions(db: str | None) -> sessionmaker[Session]:
    url = db or get_settings().database_url
    upgrade(url)
    return make_session_factory(make_engine(url))


@app.command("export")
def export(
    customer_id: str,
    db: DbOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="write the JSON here instead of stdout")] = None,
) -> None:
    """Everything stored about CUSTOMER_ID (conversations, messages, surveys, tickets) as JSON."""
    try:
        data = export_customer(_sessions(db), customer_id)
    except CustomerNotFound as exc:
        typer.echo(f"没有找到顾客 {customer_id}（{exc}）", err=True)
        raise typer.Exit(1) from exc
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if out is None:
        sys.stdout.write(text + "\n")
    else:
        out.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"exported {len(data['messages'])} messages of {customer_id} to {out}")


@app.command("erase")
def erase(
    customer_id: str,
    db: DbOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
) -> None:
    """Erase CUSTOMER_ID's personal data; KPI counts stay the same (rows are kept under a pseudonym)."""
    if not yes:
        typer.confirm(f"Erase every message, survey comment and ticket text of {customer_id}?", abort=True)
    try:
        counts = erase_customer(_sessions(db), customer_id)
    except CustomerNotFound as exc:
        typer.echo(f"没有找到顾客 {customer_id}（{exc}）", err=True)
        raise typer.Exit(1) from exc
    typer.echo("erased " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))


@keys_app.command("rotate")
def rotate(
    channel: Annotated[str, typer.Argument(help="app | miniprogram")],
    db: DbOption = None,
    keep_old: Annotated[bool, typer.Option("--keep-old", help="old keys keep working (hand-over)")] = False,
) -> None:
    """Create a new key for CHANNEL and print it once (it is stored hashed); old keys stop working."""
    if channel not in KEY_CHANNELS:
        raise typer.BadParameter(f"channel must be one of {', '.join(KEY_CHANNELS)}")
    identity = IdentityService(session_factory=_sessions(db), web_identity_secret=None, visitor_token_ttl_s=1)
    sys.stdout.write(identity.rotate_channel_key(channel, keep_old=keep_old) + "\n")
