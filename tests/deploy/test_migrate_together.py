"""Router replicas started together on a new PostgreSQL database migrate it once.

``docker-compose up`` starts both replicas at the same moment on an empty database; before the migration lock the
second failed creating ``alembic_version`` (duplicate key) and only came up after its restart.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from router.db import make_engine
from tests.router.ops_support import fresh_pg_url

pytestmark = [pytest.mark.pg]
ROOT = Path(__file__).resolve().parents[2]
# each process waits for the same wall-clock instant, then migrates: the replicas' start-up, without uvicorn
MIGRATE = (
    "import sys, time; from router.migrate import upgrade; time.sleep(max(0, float(sys.argv[2]) - time.time()));"
    " upgrade(sys.argv[1])"
)


def test_replicas_migrate_a_new_database_at_the_same_time() -> None:
    with fresh_pg_url() as url:
        at = str(time.time() + 8)  # after every process has imported the app (a few seconds on a loaded machine)
        procs = [
            subprocess.Popen([sys.executable, "-c", MIGRATE, url, at], cwd=ROOT, stderr=subprocess.PIPE, text=True)
            for _ in range(3)
        ]
        errors = [p.communicate(timeout=180)[1] for p in procs]
        failed = [err[-600:] for p, err in zip(procs, errors, strict=True) if p.returncode != 0]
        assert failed == []
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        finally:
            engine.dispose()
        assert len(versions) == 1
