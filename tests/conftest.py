"""Suite-wide settings: offline model loading, quiet TensorFlow, jieba cache in a temp dir, and a private FAQ corpus
database (seeded from knowledge_base/data on first use) so no test reads or writes the developer's var/kefu.db."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if "KEFU_KB_DATABASE_URL" not in os.environ:
    _kb_dir = tempfile.mkdtemp(prefix="kefu-test-kb-")
    atexit.register(shutil.rmtree, _kb_dir, ignore_errors=True)
    os.environ["KEFU_KB_DATABASE_URL"] = f"sqlite:///{_kb_dir}/kefu.db"


import pytest  # noqa: E402

from tests.datasets import ENV_REQUIRE, datasets_dir  # noqa: E402


@pytest.fixture()
def _fail_required_datasets() -> None:
    """Used by ``needs_datasets`` where CI requires the public data sets but they are missing."""
    pytest.fail(f"{ENV_REQUIRE}=1 but a public data set this test reads is missing from {datasets_dir()}")
