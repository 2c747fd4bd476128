"""Session fixtures that start the real Rasa server and action server on free loopback ports."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from shop.settings import DEFAULT_DB as DEMO_DB
from tests.procs import APP_PY, RASA_MODEL, ROOT, Proc, start_action_server, start_rasa


@pytest.fixture(scope="session")
def e2e_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def orders_db(e2e_dir: Path) -> str:
    """A private copy of the seeded demo order store (tests change addresses and file returns)."""
    target = e2e_dir / "orders.db"
    if DEMO_DB.exists():
        shutil.copy(DEMO_DB, target)
    else:
        subprocess.run([str(APP_PY), "-m", "router.cli", "demo", "seed", "--db", str(target)], check=True, cwd=ROOT)
    return f"sqlite:///{target}"


@pytest.fixture(scope="session")
def action_server(e2e_dir: Path, orders_db: str) -> Iterator[Proc]:
    proc = start_action_server(log_dir=e2e_dir, orders_db_url=orders_db)
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def rasa_server(e2e_dir: Path, action_server: Proc) -> Iterator[Proc]:
    assert RASA_MODEL.exists(), "the trained model is built by `make setup` (make test does it)"
    proc = start_rasa(log_dir=e2e_dir, action_url=action_server.url)
    yield proc
    proc.stop()
