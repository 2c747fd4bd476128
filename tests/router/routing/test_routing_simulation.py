"""Erlang C formulas against known values, and the SimPy simulation of the real engine against Erlang C."""

from __future__ import annotations

import json
import math

from typer.testing import CliRunner

from router.routing.cli import app
from router.routing.engine import EngineConfig
from router.routing.erlang import ErlangC, asa, erlang_b, erlang_c, service_level
from router.routing.models import AgentState
from router.routing.selection import AgentChoice
from router.routing.simulate import Scenario, exponential_aht, run, single_skill


def test_erlang_formulas_known_values() -> None:
    assert math.isclose(erlang_b(1, 1.0), 0.5)
    assert math.isclose(erlang_c(2, 1.0), 1 / 3)  # M/M/2 at rho = 0.5
    assert math.isclose(asa(1, 0.5, 10.0), 10.0)  # M/M/1: Wq = rho / (mu - lambda)
    assert math.isclose(service_level(1, 0.5, 10.0, 0.0), 0.5)
    # 8 Erlangs on 10 agents: P(wait) = 0.409 (standard Erlang C tables)
    assert 0.408 < erlang_c(10, 8.0) < 0.410
    assert erlang_c(5, 5.0) == 1.0 and math.isinf(asa(5, 6.0, 60.0))


def test_simulation_matches_erlang_c_short_run() -> None:
    agents, erlangs, aht = 10, 7.0, 60.0
    result = single_skill(agents=agents, rate=erlangs / aht, aht_s=aht, duration_s=120_000, seed=3)
    theory = ErlangC(agents=agents, erlangs=erlangs, aht_s=aht).summary()
    assert result["conversations"] > 12_000
    assert abs(result["service_level_20s"] - theory["service_level_20s"]) < 0.03
    assert abs(result["p_wait"] - theory["p_wait"]) < 0.03
    assert abs(result["asa_s"] - theory["asa_s"]) / theory["asa_s"] < 0.2
    assert abs(result["occupancy"] - theory["occupancy"]) < 0.02
    assert result["abandoned"] == 0


def test_patience_makes_shoppers_abandon_and_accept_delay_adds_wait() -> None:
    impatient = single_skill(agents=3, rate=3 / 60, aht_s=60.0, duration_s=20_000, seed=1, patience_s=30.0)
    assert impatient["abandoned"] > 0
    slow = single_skill(agents=5, rate=1 / 60, aht_s=60.0, duration_s=20_000, seed=1, accept_delay_s=5.0)
    assert slow["asa_s"] >= 5.0 and slow["p_wait"] == 1.0


def test_skill_based_routing_prefers_best_skill() -> None:
    pool = [
        AgentState(id=1, name="a", skills={"billing": 5, "logistics": 1}, capacity={"chat": 1}),
        AgentState(id=2, name="b", skills={"logistics": 5, "billing": 1}, capacity={"chat": 1}),
    ]

    def scenario(**config: object) -> Scenario:
        return Scenario(
            agents=pool,
            arrivals={"billing": 0.005, "logistics": 0.005},
            service_time=exponential_aht(60.0),
            duration_s=50_000,
            seed=2,
            config=EngineConfig(require_online_agent=False, **config),
        )  # type: ignore[arg-type]

    skilled = run(scenario())
    fifo = run(scenario(ignore_skills=True, ignore_priority=True, agent_choice=AgentChoice.longest_idle))
    assert skilled["best_skill_share"] > 0.8  # the rest waited past the 60 s relaxation step
    assert fifo["best_skill_share"] < 0.65
    assert fifo["asa_s"] < skilled["asa_s"]  # the price of waiting for the right agent


def test_cli_json() -> None:
    out = CliRunner().invoke(
        app,
        ["simulate", "--agents", "4", "--rate", "0.05", "--aht", "60", "--duration", "5000", "--seed", "1", "--json"],
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert set(data) >= {"service_level_20s", "asa_s", "p_wait", "occupancy", "abandoned"}
