"""Models and experiments made elsewhere on JFrog ML show up in MLflow reads, read-only."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest


def test_team_entities_are_visible_and_read_only(jfml_uri: str, api: Any, unique: str) -> None:
    import mlflow

    model = api.create_model(name=f"team-model-{unique}", framework="xgboost")
    remote = api.create_experiment(
        name=f"their-run-{unique}",
        model_id=model.id,
        parameters={"depth": "6"},
        metrics={"auc": 0.91},
        status="completed",
        created_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
        completed_at=datetime(2026, 1, 1, 0, 5, tzinfo=timezone.utc),
    )

    experiments = {e.name: e for e in mlflow.search_experiments()}
    mirrored = experiments[f"team-model-{unique}"]
    assert mirrored.tags["jfml.remote_id"] == model.id
    runs = mlflow.search_runs([mirrored.experiment_id], output_format="list")
    assert [r.info.run_name for r in runs] == [f"their-run-{unique}"]
    run = mlflow.MlflowClient().get_run(runs[0].info.run_id)
    assert run.data.params == {"depth": "6"}
    assert run.data.metrics == {"auc": 0.91}
    assert run.info.status == "FINISHED"
    assert run.data.tags["jfml.remote_id"] == remote.id
    with pytest.raises(mlflow.exceptions.MlflowException, match="read-only"):
        mlflow.MlflowClient().log_metric(run.info.run_id, "auc", 0.5)

    # New runs may go to the team's model: they sync to it, and the mirror adds nothing twice.
    mlflow.set_experiment(experiment_id=mirrored.experiment_id)
    with mlflow.start_run(run_name=f"mine-{unique}"):
        mlflow.log_metric("auc", 0.93)
    from tests.store.conftest import current_store

    assert current_store().flush(20) == 0
    names = sorted(e.name for e in api.iter_experiments(model_id=model.id))
    assert names == sorted([f"their-run-{unique}", f"mine-{unique}"])
    current_store()._remote.refresh(force=True)
    local = mlflow.search_runs([mirrored.experiment_id], output_format="list")
    assert sorted(r.info.run_name for r in local) == names
