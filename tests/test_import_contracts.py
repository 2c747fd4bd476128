"""The import contracts (pyproject.toml, ``lint-imports``): kept today, and each one breaks on the import it forbids.

The action server and the router are two processes that deploy apart; they share code only through ``shop`` (order
access) and ``knowledge_base`` (the FAQ library), which know no service. No module takes part in an import cycle;
the router's demo data (``router.demo``) is loaded only by the dev-only hook.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import grimp
import pytest
from importlinter.api import read_configuration
from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.contracts.independence import IndependenceContract
from importlinter.contracts.protected import ProtectedContract
from importlinter.domain.contract import Contract

from scripts.import_contracts import AcyclicModulesContract, import_cycles

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONTRACT_TYPES: dict[str, type[Contract]] = {
    "forbidden": ForbiddenContract,
    "independence": IndependenceContract,
    "acyclic_modules": AcyclicModulesContract,
    "protected": ProtectedContract,
}


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    data: dict[str, Any] = read_configuration(str(ROOT / "pyproject.toml"))
    return data


@pytest.fixture(scope="module")
def graph(config: dict[str, Any]) -> grimp.ImportGraph:
    return grimp.build_graph(*config["session_options"]["root_packages"], cache_dir=None)


def contracts(config: dict[str, Any]) -> list[Contract]:
    session = config["session_options"]
    return [
        CONTRACT_TYPES[options["type"]](options["name"], session, options)
        for options in config["contracts_options"]
    ]


def broken(config: dict[str, Any], graph: grimp.ImportGraph) -> list[str]:
    return [c.name for c in contracts(config) if not c.check(copy.deepcopy(graph), verbose=False).kept]


def test_lint_imports_passes() -> None:
    """The command that `make lint` and `make test` run: every contract kept."""
    result = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 kept, 0 broken" in result.stdout, result.stdout


def test_every_contract_is_kept(config: dict[str, Any], graph: grimp.ImportGraph) -> None:
    assert len(config["contracts_options"]) == 5
    assert broken(config, graph) == []


KB = "knowledge_base (FAQ library)"
SHOP = "shop (order access)"
APART = "actions and router are independent"
ACYCLIC = "no import cycle"
DEMO = "router.demo"


@pytest.mark.parametrize(
    ("importer", "imported", "contracts_broken"),
    [
        # actions use the knowledge base and shop: a library importing router ties actions to router as well
        ("knowledge_base.service", "router.app", {KB, APART}),
        ("knowledge_base.store", "shop.orders", {KB}),
        ("shop.demo_store", "router.db", {SHOP, APART}),
        ("shop.settings", "actions.settings", {SHOP, APART}),  # router reads shop.settings
        # the two imports issue #23 found, gone now
        ("router.gateway.context", "actions.settings", {APART}),
        ("actions.forms", "router.db", {APART}),
        # the cycle of issue #23: router.api -> operations -> tickets/alerts/learning api -> operations
        ("router.tickets.api", "router.operations", {ACYCLIC}),
        ("shop.orders", "shop.settings", {ACYCLIC}),
        ("knowledge_base.store", "knowledge_base.stores", {ACYCLIC}),  # the store factory was inside store.py
        # demo data stays out of the service
        ("router.reports.api", "router.demo.traffic", {DEMO}),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    config: dict[str, Any], graph: grimp.ImportGraph, importer: str, imported: str, contracts_broken: set[str]
) -> None:
    assert {importer, imported} <= graph.modules
    violated = copy.deepcopy(graph)
    violated.add_import(importer=importer, imported=imported, line_number=1, line_contents=f"import {imported}")
    names = broken(config, violated)
    prefixes = {p for p in (KB, SHOP, APART, ACYCLIC, DEMO) if any(n.startswith(p) for n in names)}
    assert prefixes == contracts_broken, names
    assert len(names) == len(contracts_broken)


def test_cycles_are_found_module_by_module() -> None:
    graph = grimp.ImportGraph()
    for importer, imported in [("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d"), ("p.d", "p.e")]:
        graph.add_import(importer=importer, imported=imported)
    graph.add_module("p")
    assert import_cycles(graph, "p") == [["p.a", "p.b", "p.c"]]
    graph.remove_import(importer="p.c", imported="p.a")
    assert import_cycles(graph, "p") == []


def test_every_source_folder_is_a_regular_package() -> None:
    """grimp (so import-linter) skips a folder without ``__init__.py`` silently: router/gateway was one, so the
    contracts did not see the router's biggest module."""
    missing = [
        str(folder.relative_to(ROOT))
        for package in ("knowledge_base", "actions", "router", "shop")
        for folder in [ROOT / package, *(ROOT / package).rglob("*")]
        if folder.is_dir() and "__pycache__" not in folder.parts and "migrations" not in folder.parts
        and any(folder.glob("*.py")) and not (folder / "__init__.py").exists()
    ]
    assert missing == []


def _loaded_packages(code: str) -> dict[str, list[str]]:
    """Run ``code`` in a fresh interpreter; which of kefu's top-level packages it loaded."""
    probe = (
        f"{code}\nimport json, sys\n"
        "print(json.dumps({p: sorted(m for m in sys.modules if m.split('.')[0] == p)[:3] "
        "for p in ('actions', 'router', 'shop', 'knowledge_base', 'rasa_sdk')}))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    loaded: dict[str, list[str]] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


def test_the_router_app_and_its_order_panel_load_no_action_code() -> None:
    loaded = _loaded_packages(
        "import router.app, router.cli\n"
        "from router.gateway.context import default_order_lookup\n"
        "default_order_lookup()('0000000000000000', 'c0001')"
    )
    assert loaded["router"] and loaded["shop"]
    assert loaded["actions"] == [] and loaded["rasa_sdk"] == []


def test_the_action_modules_load_no_router_code() -> None:
    loaded = _loaded_packages(
        "import importlib, pkgutil, actions\n"
        "for m in pkgutil.iter_modules(actions.__path__): importlib.import_module(f'actions.{m.name}')"
    )
    assert loaded["actions"] and loaded["shop"]
    assert loaded["router"] == []
