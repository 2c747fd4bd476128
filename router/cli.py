"""The operator CLI ``kefu``: one entry point, sub-commands contributed by each package."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(help="kefu 客服: operator commands.", no_args_is_help=True, add_completion=False)

# (sub-command name, module exposing a typer app called ``app``)
SUBCOMMANDS: list[tuple[str, str]] = [
    ("kb", "knowledge_base.cli"),
    ("sentiment", "router.sentiment.cli"),
    ("router", "router.routing.cli"),
    ("demo", "shop.demo_cli"),
    ("report", "router.reports.cli"),
    ("customer", "router.identity.cli"),
    ("user", "router.users_cli"),
]

for _name, _module in SUBCOMMANDS:
    app.add_typer(importlib.import_module(_module).app, name=_name)
app.add_typer(importlib.import_module("router.identity.cli").keys_app, name="channel-key")


if __name__ == "__main__":  # pragma: no cover
    app()
