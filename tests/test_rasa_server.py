"""scripts/rasa_server.py: the cached ``jsonschema.validate`` means exactly what the original means, checked once;
event types resolve as before; the loaded model is frozen out of full collections.

Runs in the Rasa venv (it has jsonschema and Rasa; the app venv has neither).
"""

from __future__ import annotations

import itertools
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from shop.settings import DEFAULT_DB as DEMO_ORDERS
from tests.artifacts import require_built
from tests.procs import RASA_MODEL, RASA_PY, RASA_SERVER, start_action_server

PROBE = r"""
import json, sys
import jsonschema
sys.path.insert(0, sys.argv[1])
import rasa_server
from rasa.core.actions.action import RemoteAction

spec = RemoteAction.action_response_format_spec()
cases = [
    {"events": [{"event": "slot", "name": "order_id", "value": "KF1"}], "responses": [{"text": "您好"}]},
    {"events": [], "responses": []},
    {"events": [{"name": "no event key"}], "responses": []},
    {"events": "not a list", "responses": []},
    {"events": [{"event": "slot"}], "responses": "nope"},
]

def outcome(fn, instance, schema):
    try:
        fn(instance, schema)
        return ["ok"]
    except jsonschema.ValidationError as e:
        return ["invalid", e.message, list(e.absolute_path), e.validator]
    except jsonschema.SchemaError as e:
        return ["bad schema", e.message]

checks = 0
for validator_cls in {jsonschema.validators.validator_for(spec), jsonschema.Draft7Validator}:
    def counting(cls, schema, *args, _orig=validator_cls.check_schema.__func__, **kwargs):
        global checks
        checks += 1
        return _orig(cls, schema, *args, **kwargs)
    validator_cls.check_schema = classmethod(counting)

same = []
for case in cases:
    same.append([outcome(rasa_server._uncached_validate, case, spec), outcome(rasa_server.validate, case, spec)])
before = checks
for _ in range(20):
    for case in cases:
        outcome(rasa_server.validate, case, spec)
in_loop = checks - before
bad_schema = {"type": 12}
same.append([outcome(rasa_server._uncached_validate, {}, bad_schema), outcome(rasa_server.validate, {}, bad_schema)])
print(json.dumps({"pairs": same, "checks_in_loop": in_loop}))
"""


def run_probe(code: str, *args: str) -> Any:
    """Run ``code`` in the Rasa venv with scripts/ importable (``sys.argv[1]``, then ``args``); its last line of
    output is JSON."""
    require_built(RASA_PY, "the Rasa venv")
    out = subprocess.run(
        [str(RASA_PY), "-c", code, str(RASA_SERVER.parent), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={"RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_cached_validate_matches_jsonschema_and_checks_each_schema_once() -> None:
    result = run_probe(PROBE)
    pairs = result["pairs"]
    for original, cached in pairs:
        assert cached == original
    outcomes = [p[0][0] for p in pairs]
    assert outcomes[:2] == ["ok", "ok"]
    assert outcomes[2:5] == ["invalid", "invalid", "invalid"]
    assert outcomes[5] == "bad schema"
    # 100 validations after the first pass: the schema was already checked, never again
    assert result["checks_in_loop"] == 0


EVENTS_PROBE = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import rasa_server
import rasa.shared.utils.common as common
from rasa.shared.core.events import Event, UserUttered

original = Event.resolve_by_type
names = sorted({cls.type_name for cls in common.all_subclasses(Event)})

def outcome(fn, *args):
    try:
        cls = fn(*args)
        return None if cls is None else cls.__name__
    except ValueError as e:
        return "ValueError: " + str(e)

before = [[outcome(original, n) for n in names], outcome(original, "no_such_event"),
          outcome(original, "no_such_event", UserUttered), outcome(original, "topic")]
rasa_server.cache_event_types()
walks = 0
_walk = common.all_subclasses
def counting(cls):
    global walks
    walks += 1
    return _walk(cls)
common.all_subclasses = counting
after = [[outcome(Event.resolve_by_type, n) for n in names], outcome(Event.resolve_by_type, "no_such_event"),
         outcome(Event.resolve_by_type, "no_such_event", UserUttered), outcome(Event.resolve_by_type, "topic")]
first_pass = walks
for _ in range(50):
    for n in names:
        Event.resolve_by_type(n)
events = [{"event": "user", "text": "运费谁出", "parse_data": {"intent": {"name": "ask_faq"}}},
          {"event": "slot", "name": "order_id", "value": "KF1"}, {"event": "action", "name": "action_listen"}]
restored = [type(Event.from_parameters(e)).__name__ for e in events]
print(json.dumps({"names": len(names), "same": before == after, "before": before, "after": after,
                  "walks_after_first_pass": walks - first_pass, "restored": restored}))
"""


def test_event_types_resolve_as_before_and_the_subclass_walk_happens_once_per_name() -> None:
    result = run_probe(EVENTS_PROBE)
    assert result["names"] > 20
    assert result["same"], (result["before"], result["after"])
    assert result["after"][1].startswith("ValueError: Unknown event name")  # unknown: the original error
    assert result["after"][2] == "UserUttered"  # unknown with a default: the default
    assert result["walks_after_first_pass"] == 0  # each known name walked the subclasses once, at most
    assert result["restored"] == ["UserUttered", "SlotSet", "ActionExecuted"]


FREEZE_PROBE = r"""
import asyncio, gc, json, sys
sys.path.insert(0, sys.argv[1])
import rasa_server
from rasa.core import run

calls, parsed = [], []

class FakeAgent:
    def __init__(self, ready):
        self.ready = ready
    def is_ready(self):
        return self.ready
    async def parse_message(self, text):
        parsed.append([text, gc.get_freeze_count()])

agents = {"m.tar.gz": FakeAgent(True), "untrained.tar.gz": FakeAgent(False), "none": None}

async def fake_load(model_path, endpoints, remote_storage, app, loop):
    calls.append((model_path, app))
    return agents[model_path]

run.load_agent_on_start = fake_load
before = gc.get_freeze_count()
rasa_server.freeze_after_model_load()
loaded = [asyncio.run(run.load_agent_on_start(m, None, None, "app", None)) is agents[m] for m in agents]
print(json.dumps({"loaded": loaded, "calls": calls, "parsed": parsed, "frozen_before": before,
                  "frozen_after": gc.get_freeze_count(), "name": run.load_agent_on_start.__name__}))
"""


def test_the_loaded_model_parses_one_message_then_is_frozen_out_of_full_collections() -> None:
    result = run_probe(FREEZE_PROBE)
    assert result["loaded"] == [True, True, True]  # the agent Rasa loaded, or none, is what the server gets
    assert [c[0] for c in result["calls"]] == ["m.tar.gz", "untrained.tar.gz", "none"]
    # the first parse (jieba's dictionary, the featurisers) happens before the server accepts shoppers, and before
    # the freeze, so what it loads is frozen too; not without a ready model
    assert result["parsed"] == [["你好，请问退款多久能到账", 0]]
    assert result["frozen_before"] == 0 and result["frozen_after"] > 100_000  # Rasa's imports alone are many
    assert result["name"] == "fake_load"


BOUND_PROBE = r"""
import asyncio, json, random, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import rasa_server
from rasa.core.agent import Agent
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.utils.endpoints import EndpointConfig

model, action_url, keep, most = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
texts = json.loads(sys.argv[6])
agent = Agent.load(model, action_endpoint=EndpointConfig(url=action_url + "/webhook"))

async def converse(sender):
    np.random.seed(7)  # the same variant of each response, where a response has several
    random.seed(7)
    store = InMemoryTrackerStore(agent.domain)
    agent.tracker_store = agent.processor.tracker_store = store
    replies, sizes, decisions = [], [], []
    for text in texts:
        out = await agent.handle_text(text, sender_id=sender)
        replies.append([m.get("text") or m.get("custom") for m in out or []])
        tracker = await store.retrieve(sender)
        events = list(tracker.events)
        sizes.append(sum(isinstance(e, UserUttered) for e in events))
        last_user = max(i for i, e in enumerate(events) if isinstance(e, UserUttered))
        # what each prediction of this turn chose, which policy won and how sure it was
        decisions.append([[e.action_name, e.policy, e.confidence] for e in events[last_user:]
                          if isinstance(e, ActionExecuted)])
    tracker = await store.retrieve(sender)
    return replies, sizes, decisions, tracker.current_slot_values(), tracker.latest_message.text

whole = asyncio.run(converse("whole"))
rasa_server.bound_in_memory_trackers(keep, most)
rasa_server.defer_outranked_ted()
agent = Agent.load(model, action_endpoint=EndpointConfig(url=action_url + "/webhook"))  # the graph with the patch
bounded = asyncio.run(converse("bounded"))
print(json.dumps({"whole": whole, "bounded": bounded, "ted": rasa_server.TED_PREDICTIONS}, ensure_ascii=False,
                 default=str))
"""

# a conversation with two forms (one finished, one given up), FAQ questions, small talk and a digression inside a
# form: with at most 5 user messages stored, the cut falls inside and outside the forms
CONVERSATION = [
    "你好",
    "退款多久能到账",
    "我想查一下订单",
    "2026120400113034",
    "运费谁出",
    "我要退货",
    "怎么开发票",
    "算了",
    "积分怎么用",
    "我的订单到哪了",
    "20261201999999",
    "算了",
    "谢谢",
    "支持货到付款吗",
    "怎么修改收货地址",
    "再见",
]


def test_bounded_conversations_and_deferred_ted_answer_exactly_as_rasa_does() -> None:
    """The same conversation through the real model and action server, once as Rasa runs it and once bounded to 3..5
    user messages with TED's prediction deferred: every reply, every predicted action, the policy that won it and
    its confidence the same, the same slots at the end; the bounded store never holds more than 5; TED computed
    only where its answer was read."""
    require_built(RASA_MODEL, "the trained Rasa model")
    with tempfile.TemporaryDirectory() as tmp:
        actions = start_action_server(log_dir=Path(tmp), orders_db_url=f"sqlite:///{DEMO_ORDERS}")
        try:
            result = run_probe(
                BOUND_PROBE, str(RASA_MODEL), actions.url, "3", "5", json.dumps(CONVERSATION, ensure_ascii=False)
            )
        finally:
            actions.stop()
    whole_replies, whole_sizes, whole_decisions, whole_slots, whole_latest = result["whole"]
    replies, sizes, decisions, slots, latest = result["bounded"]
    assert whole_sizes == list(range(1, len(CONVERSATION) + 1))  # stored whole
    # bounded (beyond 5 only while a form stays active: no cut inside a form), never below what is kept
    assert sizes[-1] <= 5 and max(sizes) < len(CONVERSATION) and min(sizes[5:]) >= 3, sizes
    assert sum(b < a for a, b in itertools.pairwise(sizes)) >= 2, sizes  # cut more than once
    for text, expected, got in zip(CONVERSATION, whole_replies, replies, strict=True):
        assert got == expected, text
    for text, expected, got in zip(CONVERSATION, whole_decisions, decisions, strict=True):
        assert got == expected, text
    policies = {policy for turn in decisions for _action, policy, _confidence in turn}
    assert "RulePolicy" in policies  # rules outranked TED here ...
    ted = result["ted"]
    assert 0 < ted["computed"] < ted["deferred"], ted  # ... and TED was asked, computed only where it was read
    assert slots == whole_slots and latest == whole_latest == CONVERSATION[-1]


BOUNDS_PROBE = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import rasa_server

out = []
for env in ({}, {"KEFU_RASA_MAX_TURNS": "0"}, {"KEFU_RASA_KEEP_TURNS": "4", "KEFU_RASA_MAX_TURNS": "8"},
            {"KEFU_RASA_KEEP_TURNS": "2"}, {"KEFU_RASA_KEEP_TURNS": "9", "KEFU_RASA_MAX_TURNS": "8"},
            {"KEFU_RASA_MAX_TURNS": "many"}):
    try:
        out.append(list(rasa_server.turn_bounds(env)))
    except SystemExit as exc:
        out.append(str(exc))
print(json.dumps(out, ensure_ascii=False))
"""


def test_turn_bounds_come_from_the_environment_and_nonsense_is_refused_with_a_reason() -> None:
    default, off, chosen, too_few, upside_down, not_a_number = run_probe(BOUNDS_PROBE)
    assert default == [6, 12] and off[1] == 0 and chosen == [4, 8]
    assert "at least 3" in too_few and "at most KEFU_RASA_MAX_TURNS" in upside_down
    assert "whole numbers" in not_a_number
