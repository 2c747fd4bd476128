"""The public data sets some tests evaluate on: optional on a user's clone, required in CI.

A shop's clone has only the repository, so a test that reads a public data set skips with the reason when the set is
absent. CI has the sets beside the checkout and sets ``KEFU_REQUIRE_DATASETS=1`` (``.ci/run``): there a missing set
fails the test instead of skipping it, so a moved folder can never turn into a silently smaller suite.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ENV_DATASETS = "KEFU_DATASETS"
ENV_REQUIRE = "KEFU_REQUIRE_DATASETS"


def datasets_dir() -> Path:
    """``$KEFU_DATASETS`` if set, else ``shared/datasets`` beside the checkout (as the build looks for them)."""
    env = os.environ.get(ENV_DATASETS)
    return Path(env) if env else REPO.parent / "shared" / "datasets"


def missing(*names: str) -> list[str]:
    """The named data set folders (or files, relative to the data sets folder) that are not there."""
    root = datasets_dir()
    return [name for name in names if not (root / name).exists()]


def needs_datasets(*names: str) -> pytest.MarkDecorator:
    """Mark a test (or a module, as ``pytestmark``) that reads the named public data sets.

    Skips with a clear reason where they are absent; fails instead where ``KEFU_REQUIRE_DATASETS=1``.
    """
    absent = missing(*names)
    if absent and os.environ.get(ENV_REQUIRE) == "1":
        return pytest.mark.usefixtures("_fail_required_datasets")
    return pytest.mark.skipif(
        bool(absent),
        reason=f"public data set(s) {', '.join(absent)} not found in {datasets_dir()} "
        f"(optional on a clone; set ${ENV_DATASETS} to use them)",
    )
