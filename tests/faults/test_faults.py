"""The fault suite: with shoppers and agents active on two replicas, one fault at a time; afterwards every accepted
message is stored exactly once, every agent-owned message was delivered, no conversation is without an owner beyond
the offer timeout, and there is no duplicate ticket or alert (tests/faults/checks.py).  Seeded, loopback only, each
test bounded (the whole module takes a few minutes, most of it starting Rasa)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest
from sqlalchemy import text

from tests.faults.checks import check_after_fault
from tests.faults.conftest import AGENTS, OFFER_TIMEOUT_S, Cluster
from tests.faults.load import Load

# the time limit includes starting Rasa, which takes minutes on a loaded machine
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.pg, pytest.mark.timeout(900)]
SHOPPERS = 8


def _run(
    cluster: Cluster, tag: str, seed: int, fault: Callable[[Load], None], *, before_s: float = 6.0,
    after_s: float = 10.0,
) -> dict[str, int]:
    load = Load(list(cluster.urls), AGENTS, shoppers=SHOPPERS, seed=seed, tag=tag,
                credentials=cluster.credentials).start()
    load.wait_agents_online()
    time.sleep(before_s)
    fault(load)
    time.sleep(after_s)
    record = load.stop(drain_s=OFFER_TIMEOUT_S + 4)
    summary = check_after_fault(cluster.db, record, offer_timeout_s=OFFER_TIMEOUT_S)
    print(tag, summary)
    # the fault met agents at work: offers accepted and messages to an owning agent checked (not a vacuous pass)
    assert summary["accepts"] > 0 and summary["to_agent"] > 0, summary
    return summary


def test_kill_9_a_replica_mid_load(cluster: Cluster) -> None:
    def fault(load: Load) -> None:
        cluster.routers[0].kill9()
        time.sleep(3)
        cluster.restart_router(0)

    summary = _run(cluster, "kill9", 1, fault)
    assert summary["resent"] > 0  # the fault was felt


def test_restart_redis(cluster: Cluster) -> None:
    def fault(load: Load) -> None:
        cluster.redis.stop()
        time.sleep(2)
        cluster.redis.start()

    _run(cluster, "redis", 2, fault)


def test_database_connections_dropped(cluster: Cluster) -> None:
    name = cluster.db.url.database

    def fault(load: Load) -> None:
        for _ in range(3):  # what a PostgreSQL restart does to the replicas' pools, three times in a row
            with cluster.db.connect() as conn:
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": name})
                conn.commit()
            time.sleep(1.0)

    _run(cluster, "postgres", 3, fault)


def test_rasa_and_action_server_stopped_for_10_s(cluster: Cluster) -> None:
    if cluster.rasa is None or cluster.actions is None:
        pytest.fail("this fault needs the Rasa server and the action server: unset KEFU_FAULTS_WITHOUT_RASA")
    rasa, actions = cluster.rasa, cluster.actions

    def fault(load: Load) -> None:
        for proc in (rasa, actions):
            os.killpg(proc.popen.pid, signal.SIGSTOP)
        try:
            time.sleep(10)
        finally:
            for proc in (rasa, actions):
                os.killpg(proc.popen.pid, signal.SIGCONT)

    summary = _run(cluster, "rasa", 4, fault, after_s=12.0)
    # every message sent while the bot was stopped got the polite "bot unavailable" answer (and a human when one was
    # free) in its first request: none failed and had to be resent
    assert summary["resent"] == 0, summary


def test_agent_websocket_dropped(cluster: Cluster) -> None:
    def fault(load: Load) -> None:
        for username, _ in AGENTS:
            load.drop_agent_socket(username)

    summary = _run(cluster, "websocket", 5, fault)
    assert summary["agent_reconnects"] >= len(AGENTS)
