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
once and moved to the permanent generation (``gc.freeze()``); later collections walk only what came after.
Before that, one message is parsed: the first parse loads jieba's dictionary and the featurisers' state, 2.5 s on
our machines, which the first shopper after every start used to wait for (and every shopper behind her). The
server accepts connections only once this is done.

Rasa's cost per message grows with the conversation: the in-memory tracker store keeps the whole conversation as
JSON and rebuilds it on every message (twice: once to read it, once to split it into sessions), and each policy
replays every event again to featurise the dialogue, though none looks further back than a few turns
(``max_history: 4``). Measured one message at a time (bench/rasa_turns_bench.py, bench/RESULTS.md): the previous
version of this server took 42 ms of Rasa CPU for the 2nd to 10th message and 62 ms for the 31st to 40th. Here the
stored conversation is bounded (``bound_in_memory_trackers``): once it holds more than ``KEFU_RASA_MAX_TURNS`` user
messages (default 12), it is stored as Rasa stores a new session that carries its slots over
(``action_session_start``, ``session_started``, one ``slot`` event per slot that is set, ``action_listen``),
followed by the last ``KEFU_RASA_KEEP_TURNS`` user messages (default 6) with every event after them, unchanged. The
cut is made only before a user message at which no form is active and nothing is queued (otherwise at an earlier
message, or not this time), so what the policies see in their window, what the action server reads (the slots, the
last two user turns, the events of an active form) and what the agents' context panel lists (the slots, the recent
intents) stay the same. ``KEFU_RASA_MAX_TURNS=0`` keeps whole conversations.

Rasa asks every policy for every prediction (two or three per shopper message), then keeps the most confident one,
the higher priority winning a tie. When a rule applies, RulePolicy is certain (1.0) and outranks TEDPolicy, which
cannot be more than certain: TED's answer (a quarter of the Rasa server's CPU, py-spy under load) is thrown away.
Here TED's prediction is computed when it is first needed (``defer_outranked_ted``): the ensemble reads it only if
no prediction of a higher-priority policy is already at 1.0; the winner, its events and every tie are what Rasa
picks. Not for a TED that reads the user's text (end-to-end stories), whose answer can overrule intent-based ones.

Run it with the Rasa venv's Python::

    .venv-rasa/bin/python scripts/rasa_server.py run --enable-api ...

Standalone on purpose: the Rasa venv has kefu's packages (bot/config.yml uses one component of knowledge_base/) but
not their dependencies.
"""

from __future__ import annotations

import functools
import gc
import json
import os
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


WARM_UP_TEXT = "你好，请问退款多久能到账"


def freeze_after_model_load() -> None:
    """Once Rasa's server has loaded its model: one message parsed, then ``gc.freeze()`` (see the module's text)."""
    from rasa.core import run

    load = run.load_agent_on_start

    @functools.wraps(load)
    async def load_then_freeze(*args: Any, **kwargs: Any) -> Any:
        agent = await load(*args, **kwargs)
        if agent is not None and agent.is_ready():
            await agent.parse_message(WARM_UP_TEXT)
        gc.collect()
        gc.freeze()
        return agent

    run.load_agent_on_start = load_then_freeze


def compact_tracker(tracker: Any, keep_turns: int, max_turns: int) -> Any:
    """``tracker`` itself when it holds at most ``max_turns`` user messages, else a new tracker: a session start that
    carries the slots over (and the pause, if an agent has the conversation), then the events from one of the last
    ``keep_turns``..``max_turns`` user messages on (the latest before which no form is active and no follow-up action
    is queued); ``tracker`` unchanged when there is no such message."""
    from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
    from rasa.shared.core.events import ActionExecuted, ConversationPaused, SessionStarted, SlotSet, UserUttered

    events = list(tracker.events)
    users = [i for i, event in enumerate(events) if isinstance(event, UserUttered)]
    if max_turns <= 0 or len(users) <= max_turns:
        return tracker
    candidates = set(users[-max_turns : len(users) - keep_turns + 1])
    replay = tracker.init_copy()  # the conversation's state just before each candidate cut
    found = None  # (cut index, {slot: (value, initial value)}, paused) at the latest acceptable cut
    for i, event in enumerate(events):
        if i in candidates and replay.active_loop_name is None and replay.followup_action is None:
            found = i, {n: (s.value, s.initial_value) for n, s in replay.slots.items()}, replay.is_paused()
        if i >= users[-keep_turns]:
            break
        replay.update(event)
    if found is None:
        return tracker
    cut, slots, paused = found
    stamp = events[cut].timestamp
    prefix = [ActionExecuted(ACTION_SESSION_START_NAME, timestamp=stamp), SessionStarted(timestamp=stamp)]
    prefix += [
        SlotSet(name, value, timestamp=stamp) for name, (value, initial) in slots.items() if value != initial
    ]
    if paused:
        prefix.append(ConversationPaused(timestamp=stamp))
    prefix.append(ActionExecuted(ACTION_LISTEN_NAME, timestamp=stamp))
    compact = tracker.init_copy()
    compact.sender_source = tracker.sender_source
    compact.model_id, compact.assistant_id = tracker.model_id, tracker.assistant_id
    for event in prefix + events[cut:]:
        compact.update(event)
    return compact


def bound_in_memory_trackers(keep_turns: int, max_turns: int) -> None:
    """The in-memory tracker store saves conversations bounded by ``compact_tracker`` (see the module's text); not
    with an event broker, whose new-event count compares the stored conversation with the saved one."""
    from rasa.core.tracker_store import InMemoryTrackerStore

    if max_turns <= 0:
        return
    save = InMemoryTrackerStore.save

    @functools.wraps(save)
    async def bounded_save(self: InMemoryTrackerStore, tracker: Any) -> None:
        if self.event_broker is None:
            tracker = compact_tracker(tracker, keep_turns, max_turns)
        await save(self, tracker)

    InMemoryTrackerStore.save = bounded_save


TED_PREDICTIONS = {"deferred": 0, "computed": 0}  # how often TED was asked, and how often its answer was needed


def defer_outranked_ted() -> None:
    """TEDPolicy answers on first use, and the ensemble skips it when a higher-priority policy is certain."""
    from rasa.core.policies.ensemble import DefaultPolicyPredictionEnsemble
    from rasa.core.policies.policy import PolicyPrediction
    from rasa.core.policies.ted_policy import TEDPolicy
    from rasa.shared.nlu.constants import TEXT

    predict = TEDPolicy.predict_action_probabilities
    pick_best = DefaultPolicyPredictionEnsemble._pick_best_policy

    class DeferredPrediction(PolicyPrediction):
        """TED's prediction, computed when something reads more than what every intent-based TED answer has."""

        def __init__(self, policy: TEDPolicy, compute: Any) -> None:  # no super(): nothing is computed yet
            self.policy_name = type(policy).__name__
            self.policy_priority = policy.priority
            self.events: list[Any] = []  # TED never adds events, never predicts without the user's input
            self.is_no_user_prediction = False
            self.is_end_to_end_prediction = False  # it reads intents, not text (see defer_outranked_ted)
            self._compute: Any = compute
            self._real: PolicyPrediction | None = None

        @property
        def resolved(self) -> PolicyPrediction:
            if self._real is None:
                TED_PREDICTIONS["computed"] += 1
                self._real, self._compute = self._compute(), None
            return self._real

        probabilities = property(lambda self: self.resolved.probabilities)
        optional_events = property(lambda self: self.resolved.optional_events)
        diagnostic_data = property(lambda self: self.resolved.diagnostic_data)
        hide_rule_turn = property(lambda self: self.resolved.hide_rule_turn)
        action_metadata = property(lambda self: self.resolved.action_metadata)

    @functools.wraps(predict)
    def deferred_predict(
        self: TEDPolicy, tracker: Any, domain: Any, rule_only_data: Any = None, precomputations: Any = None, **kw: Any
    ) -> PolicyPrediction:
        if self.model is None or self.only_e2e or TEXT in self.fake_features:
            return predict(self, tracker, domain, rule_only_data, precomputations, **kw)
        TED_PREDICTIONS["deferred"] += 1
        return DeferredPrediction(
            self, functools.partial(predict, self, tracker, domain, rule_only_data, precomputations, **kw)
        )

    def pick_best_policy(predictions: list[PolicyPrediction]) -> PolicyPrediction:
        pending = [p for p in predictions if isinstance(p, DeferredPrediction) and p._real is None]
        if pending:
            pending_ids = {id(p) for p in pending}
            settled = [p for p in predictions if id(p) not in pending_ids]
            # the same eligibility as Rasa's: no-user predictions first, then end-to-end ones
            no_user = any(p.is_no_user_prediction for p in predictions)
            e2e = any(p.is_end_to_end_prediction for p in predictions)

            def eligible(p: PolicyPrediction) -> bool:
                return p.is_no_user_prediction == no_user and (no_user or p.is_end_to_end_prediction == e2e)

            best = max(((p.max_confidence, p.policy_priority) for p in settled if eligible(p)), default=None)
            if best is not None and all(
                not eligible(p) or (best[0] >= 1.0 and best[1] > p.policy_priority) for p in pending
            ):
                return pick_best(settled)  # no pending prediction can win; they add no events
        return pick_best(predictions)

    TEDPolicy.predict_action_probabilities = deferred_predict
    DefaultPolicyPredictionEnsemble._pick_best_policy = staticmethod(pick_best_policy)


def turn_bounds(environ: dict[str, str]) -> tuple[int, int]:
    """(keep, max) user messages per stored conversation from ``KEFU_RASA_KEEP_TURNS`` / ``KEFU_RASA_MAX_TURNS``."""
    try:
        keep = int(environ.get("KEFU_RASA_KEEP_TURNS", "6"))
        most = int(environ.get("KEFU_RASA_MAX_TURNS", "12"))
    except ValueError as exc:
        raise SystemExit(f"KEFU_RASA_KEEP_TURNS / KEFU_RASA_MAX_TURNS must be whole numbers: {exc}") from None
    if most > 0 and not 3 <= keep <= most:
        raise SystemExit(
            f"KEFU_RASA_KEEP_TURNS ({keep}) must be at least 3 (what the actions and the policies look back at) "
            f"and at most KEFU_RASA_MAX_TURNS ({most}); KEFU_RASA_MAX_TURNS=0 keeps whole conversations"
        )
    return keep, most


def main() -> None:
    keep_turns, max_turns = turn_bounds(dict(os.environ))
    jsonschema.validate = validate  # before Rasa imports it (it imports the name inside its functions, too)
    cache_event_types()
    freeze_after_model_load()
    bound_in_memory_trackers(keep_turns, max_turns)
    defer_outranked_ted()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
