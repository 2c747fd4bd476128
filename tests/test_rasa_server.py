"""scripts/rasa_server.py: the cached ``jsonschema.validate`` means exactly what the original means, checked once.

Runs in the Rasa venv (it has jsonschema and Rasa; the app venv has neither).
"""

from __future__ import annotations

import json
import subprocess

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


def test_cached_validate_matches_jsonschema_and_checks_each_schema_once() -> None:
    require_built(RASA_PY, "the Rasa venv")
    out = subprocess.run(
        [str(RASA_PY), "-c", PROBE, str(RASA_SERVER.parent)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    pairs = result["pairs"]
    for original, cached in pairs:
        assert cached == original
    outcomes = [p[0][0] for p in pairs]
    assert outcomes[:2] == ["ok", "ok"]
    assert outcomes[2:5] == ["invalid", "invalid", "invalid"]
    assert outcomes[5] == "bad schema"
    # 100 validations after the first pass: the schema was already checked, never again
    assert result["checks_in_loop"] == 0
