"""The fault suite's cluster, all on loopback: a redis-server of its own (restarted by a test, so the machine's shared
Redis is never touched), a throw-away database on the local PostgreSQL (a "restart" terminates this database's
connections only), the real action server and Rasa server, and two router replicas (tests/procs.py)."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine

from router.auth import create_user
from router.db import make_engine, make_session_factory
from router.migrate import upgrade
from shop.settings import DEFAULT_DB as DEMO_DB
from tests.e2e.helpers import credentials_env, shop_credentials
from tests.procs import (
    RASA_MODEL,
    RASA_TOKEN,
    Proc,
    RedisServer,
    free_port,
    start_action_server,
    start_rasa,
    start_router,
)
from tests.router.ops_support import fresh_pg_url

OFFER_TIMEOUT_S = 6.0
AGENT_PASSWORD = "fault-agent-pass"
AGENTS = [("fault-agent-0", AGENT_PASSWORD), ("fault-agent-1", AGENT_PASSWORD)]
# Only to check the harness where Rasa cannot start in time (a saturated machine): the replicas run with Rasa down, so
# every message takes the "bot unavailable" path (a polite reply, and a handoff while agents are online); the Rasa
# fault test skips.  The suite proper (make test) always runs with the real Rasa and action servers.
WITHOUT_RASA = os.environ.get("KEFU_FAULTS_WITHOUT_RASA") == "1"


@dataclass
class Cluster:
    db_url: str
    db: Engine
    redis: RedisServer
    rasa: Proc | None
    actions: Proc | None
    env: dict[str, str]
    log_dir: Path
    credentials: dict[str, str] = field(default_factory=dict)  # the shop's channel keys and web identity secret
    routers: list[Proc] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.ports]

    def restart_router(self, i: int) -> None:
        self.routers[i].stop()
        self.routers[i] = start_router(log_dir=self.log_dir, env=self.env, port=self.ports[i], name=f"replica-{i}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed: `make services` installs it (`make test` does so first)")
    if not RASA_MODEL.exists():
        pytest.fail("the trained Rasa model is built by `make setup` (make test does it)")
    tmp = tmp_path_factory.mktemp("faults")
    orders = tmp / "orders.db"
    shutil.copy(DEMO_DB, orders)
    server = RedisServer(tmp)
    server.start()
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(server.stop)
        db_url = cleanup.enter_context(fresh_pg_url())
        upgrade(db_url)
        db = make_engine(db_url)
        sessions = make_session_factory(db)
        for username, password in AGENTS:
            create_user(sessions, username=username, password=password, display_name=username,
                        skills={"general": 5, "after_sales": 4, "logistics": 4, "billing": 4})
        actions = rasa = None
        rasa_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        if not WITHOUT_RASA:
            actions = start_action_server(log_dir=tmp, orders_db_url=f"sqlite:///{orders}")
            try:
                rasa = start_rasa(log_dir=tmp, action_url=actions.url, ready_timeout_s=600)  # slow on a loaded machine
            except BaseException:
                actions.stop()  # never leave the action server behind
                raise
            rasa_url = rasa.url
        credentials = shop_credentials(db_url)
        env = {
            **credentials_env(credentials),
            "KEFU_ROUTER_DATABASE_URL": db_url,
            "KEFU_ROUTER_REDIS_URL": server.url,
            "KEFU_ROUTER_REDIS_NAMESPACE": "faults-" + uuid.uuid4().hex[:8],
            "KEFU_ROUTER_RASA_URL": rasa_url,
            "KEFU_ROUTER_RASA_TOKEN": RASA_TOKEN,
            "KEFU_ROUTER_RASA_TIMEOUT_S": "4",
            "KEFU_ROUTER_OFFER_TIMEOUT_S": str(OFFER_TIMEOUT_S),
            "KEFU_ROUTER_RATE_LIMIT_MESSAGES": "1000",
            "KEFU_ROUTER_ALERT_INTERVAL_S": "5",
            "KEFU_ACTIONS_ORDERS_DB_URL": f"sqlite:///{orders}",
        }
        state = Cluster(db_url, db, server, rasa, actions, env, tmp, credentials)
        try:
            for i in range(2):
                proc = start_router(log_dir=tmp, env=env, name=f"replica-{i}")
                state.routers.append(proc)
                state.ports.append(int(proc.url.rsplit(":", 1)[1]))
            yield state
        finally:
            for running in (*state.routers, rasa, actions):
                if running is not None:
                    running.stop()
            db.dispose()
