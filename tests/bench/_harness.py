"""Shared pieces of `make bench`: timing helpers and the result row every bench module returns.

Each ``tests/bench/bench_*.py`` module defines ``run() -> list[Row]``; ``run.py`` collects the
rows of every module into one markdown table. Every figure is a ratio against a peer measured
in the same run, never an absolute target.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Row", "latencies", "percentile", "time_per_call"]


@dataclass
class Row:
    area: str  # e.g. "server", "client", "store", "lightning"
    measure: str  # what was measured, e.g. "create model (req/s)"
    ours: float  # our figure
    peer_name: str  # e.g. "mlflow server (sqlite)"
    peer: float  # the peer's figure, measured in the same run
    target: str  # e.g. ">= 2.0x"; empty when only reported
    unit: str = ""

    @property
    def ratio(self) -> float:
        """ours / peer; the target says which direction is good (">= 2x" or "<= 1.3x")."""
        return self.ours / self.peer if self.peer else float("inf")

    @property
    def met(self) -> str:
        if not self.target:
            return ""
        op, _, number = self.target.partition(" ")
        bound = float(number.rstrip("x"))
        ok = self.ratio >= bound if op == ">=" else self.ratio <= bound
        return "yes" if ok else "NO"


def time_per_call(fn: Callable[[], object], n: int) -> float:
    """Seconds per call of ``fn`` over ``n`` calls (after one warm-up call)."""
    fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def latencies(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1))))
    return ordered[k]


def median(values: list[float]) -> float:
    return statistics.median(values)
