"""``kefu router ...``: routing operator commands."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from router.routing.erlang import ErlangC

app = typer.Typer(help="Skill-based routing: simulation and tools.", no_args_is_help=True, add_completion=False)


@app.callback()
def main() -> None:
    """Skill-based routing: simulation and tools."""


@app.command()
def simulate(
    agents: Annotated[int, typer.Option("--agents", min=1, help="number of agents (capacity 1 each)")] = 54,
    rate: Annotated[float, typer.Option("--rate", min=0.0001, help="arrivals per second")] = 48 / 180,
    aht: Annotated[float, typer.Option("--aht", min=0.1, help="mean handling time, seconds")] = 180.0,
    duration: Annotated[float, typer.Option("--duration", min=1.0, help="simulated seconds")] = 86_400.0,
    seed: Annotated[int, typer.Option("--seed")] = 1,
    accept_delay: Annotated[
        float, typer.Option("--accept-delay", min=0.0, help="seconds before an offer is accepted")
    ] = 0.0,
    patience: Annotated[float | None, typer.Option("--patience", min=0.1, help="mean patience, seconds")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON only")] = False,
) -> None:
    """Simulate an M/M/N queue through the real routing engine with a virtual clock (SimPy)."""
    try:  # SimPy is an optional extra: the runtime install leaves it out
        from router.routing.simulate import single_skill
    except ModuleNotFoundError as exc:
        if exc.name != "simpy":
            raise
        typer.echo("kefu router simulate needs SimPy: pip install -e '.[sim]'", err=True)
        raise typer.Exit(2) from exc
    result = single_skill(
        agents=agents,
        rate=rate,
        aht_s=aht,
        duration_s=duration,
        seed=seed,
        accept_delay_s=accept_delay,
        patience_s=patience,
    )
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
        return
    theory = ErlangC(agents=agents, erlangs=rate * aht, aht_s=aht).summary()
    typer.echo(f"{'metric':<20}{'simulated':>12}{'erlang C':>12}")
    for key in ("service_level_20s", "asa_s", "p_wait", "occupancy"):
        typer.echo(f"{key:<20}{result[key]!s:>12}{round(theory[key], 4)!s:>12}")
    typer.echo(f"{'abandoned':<20}{result['abandoned']!s:>12}")
    typer.echo(f"{'conversations':<20}{result['conversations']!s:>12}")
