"""Discrete-event simulation (SimPy) that drives the real :class:`RoutingEngine` with a virtual clock.

Shoppers arrive as Poisson streams per skill, agents accept offers after ``accept_delay_s`` (0 = at once), handle
conversations for an exponential time whose mean may depend on proficiency, and close them; optional patience makes
waiting shoppers abandon.  Statistics cover conversations that arrive after the warm-up.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import simpy

from router.routing.engine import EngineConfig, RoutingEngine
from router.routing.errors import RoutingError
from router.routing.models import AgentState, AgentStatus, ItemState, RoutingEvent

ServiceTime = Callable[[AgentState, str, random.Random], float]


def exponential_aht(aht_s: float) -> ServiceTime:
    def draw(_agent: AgentState, _skill: str, rng: random.Random) -> float:
        return rng.expovariate(1.0 / aht_s)

    return draw


@dataclass
class _Record:
    skill: str
    arrived: float
    answered: float | None = None
    agent_id: int | None = None
    abandoned: bool = False


@dataclass
class Scenario:
    agents: Sequence[AgentState]
    arrivals: dict[str, float]  # skill -> arrivals per second
    service_time: ServiceTime
    duration_s: float
    seed: int = 0
    warmup_s: float | None = None  # default: 10 % of the duration
    accept_delay_s: float = 0.0
    patience_s: float | None = None  # mean of an exponential patience; None = shoppers never leave
    config: EngineConfig = field(default_factory=lambda: EngineConfig(require_online_agent=False))
    sl_target_s: float = 20.0


def run(scenario: Scenario) -> dict[str, Any]:
    """Run the scenario and return service level, ASA, P(wait), occupancy, abandonment and best-skill share."""
    env = simpy.Environment()
    rng = random.Random(scenario.seed)
    engine = RoutingEngine(config=scenario.config, clock=lambda: float(env.now))
    for proto in scenario.agents:
        engine.upsert_agent(
            AgentState(
                id=proto.id,
                name=proto.name,
                skills=dict(proto.skills),
                languages=proto.languages,
                capacity=dict(proto.capacity),
                status=AgentStatus.online,
            )
        )
    records: dict[str, _Record] = {}
    warmup = scenario.duration_s * 0.1 if scenario.warmup_s is None else scenario.warmup_s
    busy = [0.0]

    def accept_later(offer_id: str, agent_id: int) -> Any:
        if scenario.accept_delay_s > 0:
            yield env.timeout(scenario.accept_delay_s)
        try:
            engine.accept(offer_id, agent_id)
        except RoutingError:
            pass  # rescinded because the shopper left meanwhile

    def serve(conversation_id: str, agent_id: int) -> Any:
        rec = records[conversation_id]
        agent = engine.get_agent(agent_id)
        start = float(env.now)
        yield env.timeout(scenario.service_time(agent, rec.skill, rng))
        end = float(env.now)
        busy[0] += max(0.0, min(end, scenario.duration_s) - max(start, warmup))
        engine.close(conversation_id, agent_id)

    def on_event(event: RoutingEvent) -> None:
        if event.type == "offer" and event.agent_id is not None:
            env.process(accept_later(event.data["offer_id"], event.agent_id))
        elif event.type == "assigned" and event.agent_id is not None:
            rec = records[event.conversation_id]
            rec.answered, rec.agent_id = float(env.now), event.agent_id
            env.process(serve(event.conversation_id, event.agent_id))

    engine.events.subscribe(on_event)

    def patience(conversation_id: str, wait: float) -> Any:
        yield env.timeout(wait)
        item = engine.items.get(conversation_id)
        if item is not None and item.state in (ItemState.waiting, ItemState.offered):
            records[conversation_id].abandoned = True
            engine.abandon(conversation_id)

    def arrivals(skill: str, rate: float) -> Any:
        n = 0
        while True:
            yield env.timeout(rng.expovariate(rate))
            if env.now >= scenario.duration_s:
                return
            n += 1
            cid = f"{skill}-{n}"
            records[cid] = _Record(skill=skill, arrived=float(env.now))
            engine.enqueue(conversation_id=cid, customer_id=cid, skill=skill)
            if scenario.patience_s is not None:
                env.process(patience(cid, rng.expovariate(1.0 / scenario.patience_s)))

    def ticker() -> Any:
        while True:
            due = engine.next_due()
            wait = 1.0 if due is None else min(1.0, max(0.0, due - float(env.now)))
            yield env.timeout(wait)
            engine.tick()

    for skill, rate in scenario.arrivals.items():
        env.process(arrivals(skill, rate))
    env.process(ticker())
    env.run(until=scenario.duration_s)
    # let the shoppers still waiting at the end be answered, so late arrivals are not dropped from the statistics
    drain_end = scenario.duration_s + 24 * 3600
    while any(i.state is not ItemState.assigned for i in engine.items.values()) and env.now < drain_end:
        env.run(until=float(env.now) + 60.0)
    return summarize(records, scenario, engine, warmup, busy[0])


def summarize(
    records: dict[str, _Record], scenario: Scenario, engine: RoutingEngine, warmup: float, busy_s: float
) -> dict[str, Any]:
    window = [r for r in records.values() if r.arrived >= warmup]
    answered = [r for r in window if r.answered is not None and not r.abandoned]
    waits = [r.answered - r.arrived for r in answered if r.answered is not None]
    best = {s: max((a.proficiency(s) for a in scenario.agents), default=0) for s in scenario.arrivals}
    profs = {a.id: a for a in scenario.agents}
    on_best = sum(
        1 for r in answered if r.agent_id is not None and profs[r.agent_id].proficiency(r.skill) >= best[r.skill]
    )
    total = len(window)
    capacity = sum(sum(a.capacity.values()) for a in scenario.agents) * (scenario.duration_s - warmup)
    return {
        "service_level_20s": round(sum(1 for w in waits if w <= scenario.sl_target_s) / total, 4) if total else None,
        "asa_s": round(sum(waits) / len(waits), 3) if waits else None,
        "p_wait": round(sum(1 for w in waits if w > 1e-9) / len(waits), 4) if waits else None,
        "occupancy": round(busy_s / capacity, 4) if capacity else None,
        "abandoned": sum(1 for r in window if r.abandoned),
        "conversations": total,
        "answered": len(answered),
        "best_skill_share": round(on_best / len(answered), 4) if answered else None,
        "wait_p90_s": round(sorted(waits)[int(0.9 * (len(waits) - 1))], 2) if waits else None,
    }


def single_skill(
    *,
    agents: int,
    rate: float,
    aht_s: float,
    duration_s: float,
    seed: int = 0,
    accept_delay_s: float = 0.0,
    patience_s: float | None = None,
    warmup_s: float | None = None,
) -> dict[str, Any]:
    """M/M/N: ``agents`` agents (capacity 1, skill general), Poisson ``rate`` per second, exponential AHT."""
    pool = [
        AgentState(id=i + 1, name=f"agent-{i + 1}", skills={"general": 5}, capacity={"chat": 1}) for i in range(agents)
    ]
    return run(
        Scenario(
            agents=pool,
            arrivals={"general": rate},
            service_time=exponential_aht(aht_s),
            duration_s=duration_s,
            seed=seed,
            accept_delay_s=accept_delay_s,
            patience_s=patience_s,
            warmup_s=warmup_s,
        )
    )
