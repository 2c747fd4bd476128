"""Erlang C formulas for an M/M/N queue (Poisson arrivals, exponential handling times, N agents, no abandonment).

>>> round(erlang_c(54, 48.0), 4) > 0
True
>>> round(service_level(2, 1.0, 60.0, 0.0), 4) == round(1 - erlang_c(2, 1.0), 4)
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def erlang_b(n: int, a: float) -> float:
    """Blocking probability of M/M/N/N, by the stable recurrence B(k) = A B(k-1) / (k + A B(k-1))."""
    b = 1.0
    for k in range(1, n + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(n: int, a: float) -> float:
    """Probability that an arrival has to wait (Erlang C), for ``a`` Erlangs offered to ``n`` agents."""
    if a <= 0:
        return 0.0
    if a >= n:
        return 1.0
    b = erlang_b(n, a)
    return n * b / (n - a * (1.0 - b))


def service_level(n: int, a: float, aht_s: float, target_s: float) -> float:
    """Share of arrivals answered within ``target_s`` seconds."""
    if a >= n:
        return 0.0
    return 1.0 - erlang_c(n, a) * math.exp(-(n - a) * target_s / aht_s)


def asa(n: int, a: float, aht_s: float) -> float:
    """Average speed of answer (mean wait over all arrivals)."""
    if a >= n:
        return math.inf
    return erlang_c(n, a) * aht_s / (n - a)


@dataclass(frozen=True)
class ErlangC:
    agents: int
    erlangs: float
    aht_s: float
    target_s: float = 20.0

    def summary(self) -> dict[str, float]:
        return {
            "service_level_20s": service_level(self.agents, self.erlangs, self.aht_s, self.target_s),
            "asa_s": asa(self.agents, self.erlangs, self.aht_s),
            "p_wait": erlang_c(self.agents, self.erlangs),
            "occupancy": self.erlangs / self.agents,
        }
