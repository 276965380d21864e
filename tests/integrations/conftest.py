"""Fixtures for the framework integrations: where runs go, and how to read them back.

``tracking`` points MLflow at the session's reference JFrog ML server through the ``jfml+http``
tracking store. ``INTEGRATIONS_TRACKING=sqlite`` (a local debugging aid) uses a plain MLflow
SQLite URI instead; the checks of what reached JFrog ML are then skipped (``tracking.jfml`` is
None).
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.mlflow_globals import restore_mlflow_globals  # noqa: F401  (autouse fixture)


def jfml_store_available() -> bool:
    if os.environ.get("INTEGRATIONS_TRACKING") == "sqlite":  # a quick local run without the store
        return False
    return importlib.util.find_spec("jfml_tracking.mlflow_plugin.tracking_store") is not None


@dataclass
class Tracking:
    uri: str
    jfml: Any  # JFrogMLClient for the server, or None on the SQLite fallback

    @property
    def client(self) -> Any:
        import mlflow

        return mlflow.MlflowClient(tracking_uri=self.uri)

    def flush(self, timeout: float = 20.0) -> None:
        """Wait until the store has sent everything journaled to JFrog ML."""
        store = self.client._tracking_client.store
        if hasattr(store, "flush"):
            pending = store.flush(timeout)
            assert pending == 0, f"{pending} intents still unsent after {timeout} s"


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


@pytest.fixture(scope="session")
def shared_journal_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A fresh MLflow schema costs seconds to create; the integration tests share one journal
    # (and tell their runs apart by unique experiment names).
    return tmp_path_factory.mktemp("integrations_jfml_home")


@pytest.fixture
def tracking(
    request: pytest.FixtureRequest, shared_journal_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Tracking:
    if not jfml_store_available():
        return Tracking(uri=f"sqlite:///{shared_journal_home / 'mlflow.db'}", jfml=None)
    from jfml_tracking.client import JFrogMLClient

    server = request.getfixturevalue("jfml_server")
    monkeypatch.setenv("JFML_HOME", str(shared_journal_home))
    monkeypatch.setenv("JF_ACCESS_TOKEN", server.token)
    host_port = server.url.split("://", 1)[1]
    jfml = JFrogMLClient(platform_url=server.url, token=server.token, env={})
    request.addfinalizer(jfml.close)
    return Tracking(uri=f"jfml+http://{host_port}", jfml=jfml)


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A name no other test in the session uses (the server is shared)."""
    return f"{request.node.name[:40]}-{time.time_ns() % 10**9}".replace("[", "-").replace("]", "")
