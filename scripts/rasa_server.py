"""Run Rasa (same arguments as the ``rasa`` command) with the schema check of its action-server answers cached.

Rasa 3.6 validates every answer of the action server with ``jsonschema.validate(result, spec)``. That function
first checks ``spec`` itself against the JSON Schema 2020-12 meta-schema, on every call: about 9 ms per custom
action on our machines, a fifth of the Rasa server's CPU per shopper message (measured with py-spy while shoppers
chatted). Here ``jsonschema.validate`` keeps its meaning (same validator class, same errors, ``best_match`` first),
but each distinct schema is checked and compiled once. Run it with the Rasa venv's Python::

    .venv-rasa/bin/python scripts/rasa_server.py run --enable-api ...

Standalone on purpose: the Rasa venv has kefu's packages (bot/config.yml uses one component of knowledge_base/) but
not their dependencies.
"""

from __future__ import annotations

import functools
import json
import sys
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for

_uncached_validate = jsonschema.validate


@functools.lru_cache(maxsize=256)
def _checked_validator(schema_json: str) -> Any:
    schema = json.loads(schema_json)
    cls = validator_for(schema)
    cls.check_schema(schema)  # an invalid schema raises SchemaError, as the uncached function does
    return cls(schema)


def validate(instance: Any, schema: Any, cls: Any = None, *args: Any, **kwargs: Any) -> None:
    """``jsonschema.validate`` with the schema check done once per distinct schema."""
    if cls is not None or args or kwargs:
        _uncached_validate(instance, schema, cls, *args, **kwargs)
        return
    try:
        key = json.dumps(schema, sort_keys=True)
    except (TypeError, ValueError):  # not plain JSON: no cache key, take the original path
        _uncached_validate(instance, schema)
        return
    error = best_match(_checked_validator(key).iter_errors(instance))
    if error is not None:
        raise error


def main() -> None:
    jsonschema.validate = validate  # before Rasa imports it (it imports the name inside its functions, too)
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
