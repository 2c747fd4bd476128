"""What ``make test`` builds or starts before pytest runs: a test that needs it fails where it is missing.

A skip would turn a broken build into a smaller suite that still passes; only a public data set, which a user's clone
does not have, may skip a test (``tests.datasets.needs_datasets``).
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import pytest


def require_built(path: Path, what: str) -> None:
    """Fail the test with the command that builds ``path`` when it is not there."""
    if not path.exists():
        pytest.fail(f"{what} is missing ({path}): `make setup` builds it (`make test` does so before pytest)")


def fail_without_postgres(admin_url: str) -> NoReturn:
    """Fail the test: PostgreSQL at ``admin_url`` does not answer."""
    pytest.fail(f"PostgreSQL does not answer at {admin_url}: `make services` starts it (`make test` does so first)")
