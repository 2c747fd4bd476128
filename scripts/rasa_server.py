"""Run Rasa (same arguments as the ``rasa`` command) with two lookups it repeats on every message cached, and its
loaded model kept out of the garbage collector's full passes.

Rasa 3.6 validates every answer of the action server with ``jsonschema.validate(result, spec)``. That function
first checks ``spec`` itself against the JSON Schema 2020-12 meta-schema, on every call: about 9 ms per custom
action on our machines, a fifth of the Rasa server's CPU per shopper message (measured with py-spy while shoppers
chatted). Here ``jsonschema.validate`` keeps its meaning (same validator class, same errors, ``best_match`` first),
but each distinct schema is checked and compiled once.

Rasa 3.6 also finds the class of every stored event it reads back (``Event.resolve_by_type``) by walking all the
subclasses of ``Event`` again, recursively, with an ``inspect.isabstract`` test on each: the in-memory tracker store
reads every event of a conversation back on every message, so the walk cost 7 % of the Rasa server's CPU under
the load bench (py-spy, 200 shoppers, conversations of about 30 messages). Here a type name found once maps to its
class directly; an unknown name takes the original path (same default, same error).

Once the model is loaded, the Rasa process holds about 760,000 Python objects that live as long as it does (the
model's graph and TensorFlow's objects). Python's full (generation 2) collection walks all of them, every 20 s or so
under load: 330-470 ms with the whole server stopped (measured with ``gc.callbacks`` under the load bench). With
shoppers arriving at 90 % of the server's capacity, each stop left a queue that took seconds to drain: the slowest
replies of the load bench came in bursts at those moments. After the model is loaded, everything alive is collected
once and moved to the permanent generation (``gc.freeze()``); later collections walk only what came after. Run it
with the Rasa venv's Python::

    .venv-rasa/bin/python scripts/rasa_server.py run --enable-api ...

Standalone on purpose: the Rasa venv has kefu's packages (bot/config.yml uses one component of knowledge_base/) but
not their dependencies.
"""

from __future__ import annotations

import functools
import gc
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


def cache_event_types() -> None:
    """``Event.resolve_by_type`` with the classes it found remembered per type name (see the module's text)."""
    from rasa.shared.core.events import Event

    original = Event.resolve_by_type
    found: dict[str, type[Event]] = {}

    def resolve_by_type(type_name: str, default: type[Event] | None = None) -> type[Event] | None:
        cls = found.get(type_name)
        if cls is not None:
            return cls
        cls = original(type_name, default)
        if cls is not None and cls is not default and cls.type_name == type_name:
            found[type_name] = cls
        return cls

    Event.resolve_by_type = staticmethod(resolve_by_type)  # type: ignore[method-assign]


def freeze_after_model_load() -> None:
    """``gc.freeze()`` once Rasa's server has loaded its model (see the module's text)."""
    from rasa.core import run

    load = run.load_agent_on_start

    @functools.wraps(load)
    async def load_then_freeze(*args: Any, **kwargs: Any) -> Any:
        agent = await load(*args, **kwargs)
        gc.collect()
        gc.freeze()
        return agent

    run.load_agent_on_start = load_then_freeze


def main() -> None:
    jsonschema.validate = validate  # before Rasa imports it (it imports the name inside its functions, too)
    cache_event_types()
    freeze_after_model_load()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
