"""The retry policy: a value object; the client's retry loop reads it."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DEFAULT_RETRY_POLICY", "NO_RETRY", "RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard the client tries before it gives up.

    Args:
        max_attempts: attempts per call, the first one included (1 = no retry).
        max_total_seconds: wall-clock budget of one call, waits and attempts included;
            the client never starts a wait or an attempt that would overrun it.
        backoff_base: the first backoff ceiling in seconds; it doubles per attempt.
        backoff_max: the largest backoff ceiling. Each wait is uniform in
            ``[0, min(backoff_max, backoff_base * 2**n)]`` ("full jitter"), or the server's
            ``Retry-After`` when it sends one.
    """

    max_attempts: int = 5
    max_total_seconds: float = 60.0
    backoff_base: float = 0.25
    backoff_max: float = 10.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        for name in ("max_total_seconds", "backoff_base", "backoff_max"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")

    def backoff_ceiling(self, retry_number: int) -> float:
        """The jitter ceiling before retry number ``retry_number`` (1 = first retry)."""
        exponent = min(retry_number - 1, 30)
        return float(min(self.backoff_max, self.backoff_base * (2**exponent)))


DEFAULT_RETRY_POLICY = RetryPolicy()
NO_RETRY = RetryPolicy(max_attempts=1)
