"""A fixture for test folders whose tests set MLflow's process-wide tracking URI or experiment.

Import it into a folder's conftest.py (``from tests.support.mlflow_globals import
restore_mlflow_globals``) to undo, after each test, what ``set_tracking_uri`` /
``set_experiment`` leave behind for the tests that follow.
"""

from __future__ import annotations

import os

import pytest

_MLFLOW_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME")


@pytest.fixture(autouse=True)
def restore_mlflow_globals(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.tracking import fluent
    from mlflow.tracking._tracking_service import utils

    monkeypatch.setattr(utils, "_tracking_uri", utils._tracking_uri)
    monkeypatch.setattr(fluent, "_active_experiment_id", fluent._active_experiment_id)
    for name in _MLFLOW_ENV:
        value = os.environ.get(name)
        monkeypatch.setenv(name, value or "-")  # records the original (possibly absent) value
        if value is None:
            monkeypatch.delenv(name)
