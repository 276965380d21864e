"""The MLflow -> JFrog ML mapping, built from a real journal written through MLflow's API."""

from __future__ import annotations

import math

import pytest

from jfml_tracking.sync import mapping
from tests.store.conftest import current_store


@pytest.mark.parametrize(
    ("status", "expected"),
    [("RUNNING", "running"), ("FINISHED", "completed"), ("FAILED", "failed"),
     ("KILLED", "cancelled")],
)  # fmt: skip
def test_run_status_maps_to_experiment_status(status: str, expected: str) -> None:
    assert mapping.run_status_to_experiment_status(status).value == expected


@pytest.mark.parametrize(
    ("estimator", "task"),
    [("LogisticRegression", "classification"), ("RandomForestClassifier", "classification"),
     ("Ridge", "regression"), ("GradientBoostingRegressor", "regression"),
     ("KMeans", "clustering"), ("StandardScaler", None)],
)  # fmt: skip
def test_task_type_from_the_estimator(estimator: str, task: str | None) -> None:
    assert mapping._task_type_from_estimator(estimator) == task


def test_requests_from_the_journal(offline_uri: str) -> None:
    import mlflow

    exp_id = mlflow.create_experiment("mapped", tags={"jfml.task_type": "ranking"})
    mlflow.set_experiment(experiment_id=exp_id)
    with mlflow.start_run(run_name="r1", tags={"jfml.version_status": "staging"}) as run:
        mlflow.log_params({"a": "1", "b": "x" * 6000})
        mlflow.log_metric("loss", 0.5, step=0)
        mlflow.log_metric("loss", 0.25, step=1)
        mlflow.log_metric("bad", math.nan)
        model = mlflow.initialize_logged_model(name="m")
        mlflow.finalize_logged_model(model.model_id, "READY")
    journal = current_store().journal
    current_store()._fast.fold()
    with journal.read() as conn:
        model_request = mapping.model_request(conn, exp_id)
        experiment = mapping.experiment_request(conn, run.info.run_id, "mdl_1")
        version = mapping.version_request(conn, model.model_id)
    assert (model_request.name, model_request.task_type) == ("mapped", "ranking")
    assert experiment.name == "r1" and experiment.model_id == "mdl_1"
    assert experiment.status.value == "completed"
    assert experiment.metrics == {"loss": 0.25}  # NaN left out
    assert experiment.parameters == {"a": "1", "b": "x" * 6000}
    assert experiment.created_at is not None and experiment.completed_at is not None
    assert version.version == model.model_id
    assert version.status.value == "staging"
    assert version.metrics == {"loss": 0.25}
    assert version.artifact_path == mlflow.get_logged_model(model.model_id).artifact_location
