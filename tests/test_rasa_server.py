"""scripts/rasa_server.py: the cached ``jsonschema.validate`` means exactly what the original means, checked once;
event types resolve as before; the loaded model is frozen out of full collections.

Runs in the Rasa venv (it has jsonschema and Rasa; the app venv has neither).
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from tests.artifacts import require_built
from tests.procs import RASA_PY, RASA_SERVER

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


def run_probe(code: str) -> Any:
    """Run ``code`` in the Rasa venv with scripts/ importable; its last line of output is JSON."""
    require_built(RASA_PY, "the Rasa venv")
    out = subprocess.run(
        [str(RASA_PY), "-c", code, str(RASA_SERVER.parent)],
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

calls = []

async def fake_load(model_path, endpoints, remote_storage, app, loop):
    calls.append((model_path, app))
    return "the agent"

run.load_agent_on_start = fake_load
before = gc.get_freeze_count()
rasa_server.freeze_after_model_load()
agent = asyncio.run(run.load_agent_on_start("m.tar.gz", None, None, "app", None))
print(json.dumps({"agent": agent, "calls": calls, "frozen_before": before, "frozen_after": gc.get_freeze_count(),
                  "name": run.load_agent_on_start.__name__}))
"""


def test_the_loaded_model_is_frozen_out_of_full_collections() -> None:
    result = run_probe(FREEZE_PROBE)
    assert result["agent"] == "the agent" and result["calls"] == [["m.tar.gz", "app"]]
    assert result["frozen_before"] == 0 and result["frozen_after"] > 100_000  # Rasa's imports alone are many
    assert result["name"] == "fake_load"
