"""Fluent MLflow run -> journal -> sync -> Model + Experiment + ModelVersion on the real server."""

from __future__ import annotations

from typing import Any

import pytest

from jfml_tracking.sync.outbox import pending
from tests.store.conftest import current_store


@pytest.mark.slow
def test_sklearn_run_becomes_model_experiment_and_version(
    jfml_uri: str, api: Any, unique: str
) -> None:
    import mlflow
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    mlflow.set_experiment(f"churn-{unique}")
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0, 0, 1, 1])
    with mlflow.start_run(run_name="first") as run:
        mlflow.log_param("C", 1.0)
        for step, loss in enumerate([0.9, 0.5, 0.2]):
            mlflow.log_metric("loss", loss, step=step)
        model = LogisticRegression().fit(x, y)
        info = mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])
    store = current_store()
    assert store.flush(30) == 0, [(i.kind, i.last_error) for i in pending(store.journal)]

    remote_model = api.find_model_by_name(f"churn-{unique}")
    assert remote_model is not None
    assert remote_model.framework == "scikit-learn"
    experiments = list(api.iter_experiments(model_id=remote_model.id))
    assert [e.name for e in experiments] == ["first"]
    experiment = experiments[0]
    assert experiment.status == "completed"
    assert experiment.parameters == {"C": "1.0"}
    assert experiment.metrics == {"loss": 0.2}
    assert experiment.completed_at is not None
    assert run.info.run_id in (experiment.description or "")
    versions = list(api.iter_model_versions(remote_model.id))
    assert [v.version for v in versions] == [info.model_id]
    assert versions[0].status == "draft"
    assert versions[0].artifact_path == mlflow.get_logged_model(info.model_id).artifact_location
    assert versions[0].metrics.get("loss") == 0.2


@pytest.mark.slow
def test_autolog_gridsearch_syncs_task_type_children_and_versions(
    jfml_uri: str, api: Any, unique: str
) -> None:
    import mlflow
    from sklearn.datasets import load_iris
    from sklearn.model_selection import GridSearchCV
    from sklearn.tree import DecisionTreeClassifier

    mlflow.set_experiment(f"iris-{unique}")
    mlflow.sklearn.autolog(log_input_examples=False, silent=True)
    try:
        x, y = load_iris(return_X_y=True)
        with mlflow.start_run(run_name="search"):
            GridSearchCV(DecisionTreeClassifier(), {"max_depth": [1, 2]}, cv=2).fit(x, y)
    finally:
        mlflow.sklearn.autolog(disable=True)
    store = current_store()
    assert store.flush(30) == 0, [(i.kind, i.last_error) for i in pending(store.journal)]

    model = api.find_model_by_name(f"iris-{unique}")
    assert (model.framework, model.task_type) == ("scikit-learn", "classification")
    experiments = list(api.iter_experiments(model_id=model.id))
    assert len(experiments) == 3  # the search run and its two child runs
    parent = next(e for e in experiments if e.name == "search")
    assert "best_cv_score" in parent.metrics
    local_models = mlflow.search_logged_models(output_format="list")
    versions = list(api.iter_model_versions(model.id))
    assert sorted(v.version for v in versions) == sorted(m.model_id for m in local_models)
