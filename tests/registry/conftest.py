"""Fixtures for the registry tests: MLflow pointed at the shared reference server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from tests.deployments.helpers import reset_mlflow


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def jfml_uri(jfml_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The shared server as tracking (and so registry) URI, with credentials set."""
    import mlflow

    monkeypatch.setenv("JF_ACCESS_TOKEN", jfml_server.token)
    reset_mlflow()
    uri = "jfml+" + jfml_server.url
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    yield uri
    reset_mlflow()


@pytest.fixture
def jfrog(jfml_uri: str) -> Iterator[Any]:
    """A JFrog ML API client for the same server, to observe what was sent."""
    from jfml_tracking.client import JFrogMLClient

    with JFrogMLClient.from_tracking_uri(jfml_uri) as client:
        yield client


@pytest.fixture
def warnings_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget which warn-once warnings this process already gave."""
    from jfml_tracking import _once

    monkeypatch.setattr(_once, "_said", set())


def train_and_log(run_name: str = "train", alpha: float = 0.5) -> SimpleNamespace:
    """A finished run with a param, a metric and a logged sklearn model."""
    import mlflow
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.integers(-8, 8, size=(30, 3)) / 4.0, columns=["a", "b", "c"])
    y = X["a"] * 2 - X["b"]
    model = Ridge(alpha=alpha).fit(X, y)
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.log_param("alpha", alpha)
        mlflow.log_metric("r2", float(model.score(X, y)))
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            input_example=X.head(2),
            pip_requirements=["scikit-learn"],
            serialization_format="cloudpickle",
        )
    return SimpleNamespace(model=model, X=X, info=info, run_id=run.info.run_id, alpha=alpha)


def registry_store() -> Any:
    """The registry store MLflow uses for the current registry URI (ours)."""
    from mlflow import MlflowClient

    return MlflowClient()._get_registry_client().store
