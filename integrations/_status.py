"""The terminal states a tracked run can end in, in MLflow's vocabulary."""

from __future__ import annotations

from enum import Enum

__all__ = ["RunStatus", "status_from_exception"]


class RunStatus(str, Enum):
    """MLflow run statuses; the store maps them to JFrog ML experiment statuses."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    def __str__(self) -> str:
        return self.value


# Exceptions that mean "someone stopped the run" rather than "the run broke". Lightning raises
# its SIGTERMException (a BaseException) when the process receives SIGTERM.
_KILL_EXCEPTION_NAMES = frozenset({"KeyboardInterrupt", "SIGTERMException", "SystemExit"})


def status_from_exception(exc: BaseException | None) -> RunStatus:
    """FAILED for an error, KILLED for an interrupt or SIGTERM, FINISHED for no exception."""
    if exc is None:
        return RunStatus.FINISHED
    if any(cls.__name__ in _KILL_EXCEPTION_NAMES for cls in type(exc).__mro__):
        return RunStatus.KILLED
    return RunStatus.FAILED
