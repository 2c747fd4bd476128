"""Suite-wide settings: offline model loading, quiet TensorFlow, jieba cache in a temp dir."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


import pytest  # noqa: E402

from tests.datasets import ENV_REQUIRE, datasets_dir  # noqa: E402


@pytest.fixture()
def _fail_required_datasets() -> None:
    """Used by ``needs_datasets`` where CI requires the public data sets but they are missing."""
    pytest.fail(f"{ENV_REQUIRE}=1 but a public data set this test reads is missing from {datasets_dir()}")
