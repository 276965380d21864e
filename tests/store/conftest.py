"""Fixtures for the tracking store tests: a jfml tracking URI against a real server."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest


def reset_mlflow() -> None:
    """Forget MLflow's cached stores and active runs, and stop our syncers."""
    import mlflow
    from mlflow.tracking import fluent
    from mlflow.tracking._tracking_service import utils

    from jfml_tracking.mlflow_plugin import _exit

    while mlflow.active_run() is not None:
        mlflow.end_run()
    fluent._active_experiment_id = None  # MLflow keeps it across tracking URIs
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)  # set_experiment() exports it
    utils._tracking_store_registry._get_store_with_resolved_uri.cache_clear()
    _exit.shutdown_all()
    mlflow.set_tracking_uri(None)


def jfml_uri_for(server: Any) -> str:
    """``jfml+http://127.0.0.1:PORT`` for a server handle's platform URL."""
    return "jfml+" + server.url


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def jfml_uri(jfml_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The shared server as a tracking URI, with credentials set and MLflow pointed at it."""
    import mlflow

    monkeypatch.setenv("JF_ACCESS_TOKEN", jfml_server.token)
    reset_mlflow()
    uri = jfml_uri_for(jfml_server)
    mlflow.set_tracking_uri(uri)
    yield uri
    reset_mlflow()


@pytest.fixture
def offline_uri(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A jfml URI in ``JFML_MODE=offline``: journal only, no server needed."""
    import mlflow

    monkeypatch.setenv("JFML_MODE", "offline")
    monkeypatch.setenv("JF_ACCESS_TOKEN", "unused-offline")
    reset_mlflow()
    uri = "jfml+http://127.0.0.1:9"
    mlflow.set_tracking_uri(uri)
    yield uri
    reset_mlflow()


def current_store() -> Any:
    from mlflow.tracking._tracking_service import utils

    return utils._get_store()


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


@pytest.fixture
def api(jfml_server: Any) -> Iterator[Any]:
    """A JFrogMLClient on the shared server, to check what arrived."""
    from jfml_tracking.client import JFrogMLClient

    with JFrogMLClient(platform_url=jfml_server.url, token=jfml_server.token, env={}) as client:
        yield client
