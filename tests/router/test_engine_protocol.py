"""The routing engine and the clustered engine offer the same API (``RoutingEngineProtocol``), and the clustered engine
runs every decision under the cluster lock.

The clustered engine used to forward unknown attributes to the engine and pick the locked path from a list of method
names, so an engine method left off that list ran without the lock.  Now each method is spelled out; these tests fail
when the engine gains a public method that the protocol does not classify (read or decision) or that the clustered
engine does not define, and they watch the cluster lock in Redis while each call reaches the engine.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from router.cluster import ClusteredEngine
from router.routing.config import EngineConfig
from router.routing.engine import RoutingEngine
from router.routing.models import AgentState, AgentStatus, OfferState
from router.routing.protocol import RoutingDecisions, RoutingEngineProtocol, RoutingReads
from router.routing.store import EphemeralStore, RoutingStore

REDIS = "redis://127.0.0.1:6379/0"


def _members(protocol: type) -> set[str]:
    return {name for name in vars(protocol) if not name.startswith("_")}


ENGINE_METHODS = sorted(name for name, _ in inspect.getmembers(RoutingEngine, inspect.isfunction) if name[0] != "_")
DECISIONS = _members(RoutingDecisions)
READS = _members(RoutingReads)

# an argument for every parameter of the engine's API, by name; the clustered engine must pass each one on unchanged
SAMPLES: dict[str, Any] = {
    "agent": AgentState(id=7, name="probe", skills={"general": 5}, status=AgentStatus.online),
    "agent_id": 7,
    "agent_ids": (7, 8),
    "channel": "web",
    "connected": False,
    "context": {"order_id": "A1"},
    "conversation_id": "probe-conv",
    "conversation_ids": ("probe-conv",),
    "customer_id": "probe-shopper",
    "decided": {"probe-offer": OfferState.timed_out},
    "language": "en",
    "note": "probe note",
    "offer_id": "probe-offer",
    "priority": 4,
    "reason": "probe reason",
    "skill": "general",
    "status": AgentStatus.away,
    "to_agent_id": 9,
    "to_skill": "presale",
}
# what the probed engine answers where the clustered engine looks at the answer itself
ANSWERS: dict[str, Any] = {"next_due": 0.0}  # a timer is due, so ``tick`` goes on to decide


def test_every_engine_method_is_classified_as_a_read_or_a_decision() -> None:
    assert not DECISIONS & READS
    unclassified = set(ENGINE_METHODS) - DECISIONS - READS
    assert not unclassified, f"add {sorted(unclassified)} to RoutingReads or RoutingDecisions (router.routing.protocol)"


def test_engine_methods_that_run_an_operation_are_decisions() -> None:
    # an engine operation (``with self._op()``) may change the state: it must run under the cluster lock
    operations = {name for name in ENGINE_METHODS if "self._op()" in inspect.getsource(getattr(RoutingEngine, name))}
    assert operations >= {"enqueue", "accept", "tick"}  # the check sees what it looks for
    assert operations <= DECISIONS, sorted(operations - DECISIONS)


def test_the_clustered_engine_defines_every_member_itself() -> None:
    assert not hasattr(ClusteredEngine, "__getattr__")  # nothing reaches the engine by a catch-all
    missing = sorted((DECISIONS | READS | _members(RoutingEngineProtocol)) - set(vars(ClusteredEngine)) - {"events"})
    assert not missing, f"ClusteredEngine must define {missing} (a read or a decision, see router.cluster.engine)"


def test_both_engines_satisfy_the_protocol() -> None:
    # the annotations are checked by mypy where the app builds its engine; here: every member exists at run time
    local = RoutingEngine()
    for name in _members(RoutingEngineProtocol) | DECISIONS | READS:
        assert hasattr(local, name), name
        assert hasattr(ClusteredEngine, name) or name == "events", name


class Probe:
    """Builds real engines whose public methods only record whether the cluster lock is held while they run, and
    with which arguments (the samples are not a consistent routing state: nothing real runs)."""

    def __init__(self, lock_name: str) -> None:
        self.lock_name = lock_name
        self.redis = redis.Redis.from_url(REDIS)
        self.calls: list[tuple[str, bool, dict[str, Any]]] = []

    def __call__(self, store: RoutingStore, config: EngineConfig) -> RoutingEngine:
        engine = RoutingEngine(store, config=config)
        for name in ENGINE_METHODS:
            setattr(engine, name, self._recorder(name))
        return engine

    def _recorder(self, name: str) -> Any:
        signature = inspect.signature(getattr(RoutingEngine, name))

        def record(*args: Any, **kwargs: Any) -> Any:
            arguments = signature.bind(None, *args, **kwargs).arguments
            arguments.pop("self")
            self.calls.append((name, bool(self.redis.exists(self.lock_name)), arguments))
            return ANSWERS.get(name)

        return record


@pytest.fixture()
def probed() -> Iterator[tuple[ClusteredEngine, Probe]]:
    namespace = "kefu-test-" + uuid.uuid4().hex[:8]
    probe = Probe(f"{namespace}:routing:lock")
    clustered = ClusteredEngine(
        EphemeralStore(), config=EngineConfig(), redis_url=REDIS, namespace=namespace, engine_factory=probe
    )
    clustered.recover()
    yield clustered, probe
    keys = probe.redis.keys(f"{namespace}:*")
    if keys:
        probe.redis.delete(*keys)


def _call(clustered: ClusteredEngine, probe: Probe, name: str) -> list[tuple[bool, dict[str, Any]]]:
    """Call ``name`` on the clustered engine with sample arguments; what reached the engine's ``name``."""
    declared = inspect.signature(getattr(RoutingEngineProtocol, name))
    kwargs = {p: SAMPLES[p] for p in declared.parameters if p != "self"}
    probe.calls.clear()
    getattr(clustered, name)(**kwargs)
    return [(locked, arguments) for called, locked, arguments in probe.calls if called == name]


@pytest.mark.pg
@pytest.mark.parametrize("name", sorted(DECISIONS))
def test_decisions_reach_the_engine_under_the_cluster_lock(probed: tuple[ClusteredEngine, Probe], name: str) -> None:
    clustered, probe = probed
    reached = _call(clustered, probe, name)
    assert reached, f"ClusteredEngine.{name} never called the engine's {name}"
    for locked, arguments in reached:
        assert locked, f"ClusteredEngine.{name} ran without the cluster lock"
        assert all(arguments[p] == SAMPLES[p] for p in arguments if p in SAMPLES), arguments
    assert not probe.redis.exists(probe.lock_name)  # and released it


@pytest.mark.pg
@pytest.mark.parametrize("name", sorted(READS & set(ENGINE_METHODS)))
def test_reads_reach_the_engine_without_the_cluster_lock(probed: tuple[ClusteredEngine, Probe], name: str) -> None:
    clustered, probe = probed
    reached = _call(clustered, probe, name)
    assert reached, f"ClusteredEngine.{name} never called the engine's {name}"
    for locked, arguments in reached:
        assert not locked, f"ClusteredEngine.{name} took the cluster lock for a read"
        assert arguments == {p: SAMPLES[p] for p in arguments}, arguments
