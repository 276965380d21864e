"""Helpers of the deployment and registry tests (imported; fixtures live in conftest)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOKEN = "test-token"


@dataclass
class ServingEnv:
    server: Any
    runtime: Any
    home: Path
    uri: str

    def env(self) -> dict[str, str]:
        """Variables a subprocess (the mlflow CLI) needs to reach this server."""
        return {
            "MLFLOW_TRACKING_URI": self.uri,
            "JF_ACCESS_TOKEN": TOKEN,
            "JFML_HOME": str(self.home),
        }


def reset_mlflow() -> None:
    """Forget MLflow's cached stores and active run, and stop our syncers."""
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils

    from jfml_tracking.mlflow_plugin import _exit

    while mlflow.active_run() is not None:
        mlflow.end_run()
    utils._tracking_store_registry._get_store_with_resolved_uri.cache_clear()
    registry_utils._get_store_registry()._get_store_with_resolved_uri.cache_clear()
    _exit.shutdown_all()
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


def wait_until(predicate: Callable[[], Any], timeout: float = 60.0, interval: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {predicate}")
        time.sleep(interval)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True
