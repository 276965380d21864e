"""The scikit-learn callback and fit_tracked on real fits of small bundled datasets."""

from __future__ import annotations

import logging
import pickle
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
from jfml_tracking.integrations.sklearn import JFrogMLCallback, fit_tracked
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

IRIS = load_iris(return_X_y=True)
DIABETES = load_diabetes(return_X_y=True)


def _pipeline() -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=300))])


def _runs(tracking, experiment_name: str):
    experiment = tracking.client.get_experiment_by_name(experiment_name)
    return experiment.experiment_id, tracking.client.search_runs([experiment.experiment_id])


@pytest.mark.slow  # joblib starts two worker processes
def test_grid_search_with_two_jobs_gives_one_parent_run_and_capped_children(
    tracking, unique_name, tmp_path
):
    callback = JFrogMLCallback(unique_name, "grid", tracking_uri=tracking.uri, max_child_runs=3)
    grid = {"clf__C": [0.01, 0.1, 1.0, 10.0]}
    search = GridSearchCV(_pipeline(), grid, cv=3, n_jobs=2).set_callbacks(callback)
    search.fit(*IRIS)

    experiment_id, runs = _runs(tracking, unique_name)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 3
    parent = parents[0]
    assert callback.run_ids == [parent.info.run_id]
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    assert parent.data.metrics["training_score"] == pytest.approx(search.score(*IRIS))
    assert parent.data.params["best/clf__C"] == str(search.best_params_["clf__C"])
    assert parent.data.params["estimator__clf__C"] == "1.0"
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    best_three = sorted(range(4), key=lambda i: search.cv_results_["rank_test_score"][i])[:3]
    assert {c.data.params["clf__C"] for c in children} == {
        str(grid["clf__C"][i]) for i in best_three
    }
    assert all("mean_test_score" in c.data.metrics for c in children)
    table = tracking.client.download_artifacts(parent.info.run_id, "cv_results.csv", str(tmp_path))
    lines = Path(table).read_text().splitlines()
    assert lines[0].startswith("mean_fit_time") and len(lines) == 5

    models = tracking.client.search_logged_models([experiment_id])
    assert [m.source_run_id for m in models] == [parent.info.run_id]
    loaded = mlflow.pyfunc.load_model(models[0].artifact_location)
    assert (loaded.predict(IRIS[0][:5]) == search.predict(IRIS[0][:5])).all()

    if tracking.jfml is not None:
        tracking.flush()
        remote = tracking.jfml.find_model_by_name(unique_name)
        experiments = tracking.jfml.list_experiments(remote.id).experiments
        assert len(experiments) == 4  # the parent and its three children
        assert len(tracking.jfml.list_model_versions(remote.id).versions) == 1


def test_randomized_search_caps_child_runs(tracking, unique_name):
    callback = JFrogMLCallback(unique_name, tracking_uri=tracking.uri, max_child_runs=2)
    space = {"clf__C": np.logspace(-2, 2, 20)}
    search = RandomizedSearchCV(_pipeline(), space, n_iter=5, cv=2, random_state=0)
    search.set_callbacks(callback).fit(*IRIS)
    _, runs = _runs(tracking, unique_name)
    assert len(runs) == 3
    assert sum("mlflow.parentRunId" in r.data.tags for r in runs) == 2


def test_plain_estimator_with_callbacks_records_params_scores_and_model(tracking, unique_name):
    callback = JFrogMLCallback(unique_name, tracking_uri=tracking.uri)
    clf = LogisticRegression(C=0.5, max_iter=300).set_callbacks(callback)
    clf.fit(*IRIS)
    experiment_id, runs = _runs(tracking, unique_name)
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.params["C"] == "0.5"
    assert run.data.metrics["training_score"] == pytest.approx(clf.score(*IRIS))
    assert run.data.metrics["n_iter"] == float(np.max(clf.n_iter_))
    assert run.data.tags["estimator_class"].endswith("LogisticRegression")
    assert len(tracking.client.search_logged_models([experiment_id])) == 1


def test_pipeline_gives_one_run_for_the_whole_pipeline(tracking, unique_name):
    callback = JFrogMLCallback(unique_name, tracking_uri=tracking.uri)
    pipeline = _pipeline().set_callbacks(callback).fit(*IRIS)
    experiment_id, runs = _runs(tracking, unique_name)
    assert len(runs) == 1
    assert runs[0].data.params["clf__max_iter"] == "300"
    assert runs[0].data.params["scale"] == "StandardScaler"
    assert runs[0].data.metrics["training_score"] == pytest.approx(pipeline.score(*IRIS))
    [model] = tracking.client.search_logged_models([experiment_id])
    loaded = mlflow.pyfunc.load_model(model.artifact_location)
    assert (loaded.predict(IRIS[0][:5]) == pipeline.predict(IRIS[0][:5])).all()


def test_fit_tracked_is_the_fallback_for_estimators_without_callbacks(tracking, unique_name):
    ridge = Ridge(alpha=0.3)
    assert not hasattr(ridge, "set_callbacks")
    callback = JFrogMLCallback(unique_name, tracking_uri=tracking.uri)
    assert fit_tracked(ridge, *DIABETES, callback=callback) is ridge
    experiment_id, runs = _runs(tracking, unique_name)
    assert [r.data.params["alpha"] for r in runs] == ["0.3"]
    model = tracking.client.search_logged_models([experiment_id])[0]
    predictions = mlflow.pyfunc.load_model(model.artifact_location).predict(DIABETES[0][:3])
    assert np.allclose(predictions, ridge.predict(DIABETES[0][:3]))


def test_a_failing_fit_is_recorded_failed_and_the_error_propagates(tracking, unique_name):
    callback = JFrogMLCallback(unique_name, tracking_uri=tracking.uri)
    X = IRIS[0].copy()
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit_tracked(Ridge(), X, IRIS[1], callback=callback)
    experiment_id, runs = _runs(tracking, unique_name)
    assert [r.info.status for r in runs] == ["FAILED"]
    assert tracking.client.search_logged_models([experiment_id]) == []


def test_callback_on_an_inner_estimator_warns_and_records_nothing(tracking, unique_name, caplog):
    inner = LogisticRegression(max_iter=300).set_callbacks(
        JFrogMLCallback(unique_name, tracking_uri=tracking.uri)
    )
    with caplog.at_level(logging.WARNING, logger="jfml_tracking.integrations"):
        Pipeline([("scale", StandardScaler()), ("clf", inner)]).fit(*IRIS)
    assert any("outermost estimator" in r.getMessage() for r in caplog.records)
    assert tracking.client.get_experiment_by_name(unique_name) is None


def test_a_broken_store_does_not_break_the_fit(tmp_path, caplog):
    callback = JFrogMLCallback("exp", tracking_uri="nosuchscheme://nowhere")
    with caplog.at_level(logging.WARNING, logger="jfml_tracking.integrations"):
        clf = LogisticRegression(max_iter=300).set_callbacks(callback).fit(*IRIS)
    assert clf.score(*IRIS) > 0.9
    assert any("tracking is off" in r.getMessage() for r in caplog.records)


def test_callback_pickles_without_its_run_history():
    callback = JFrogMLCallback("exp", tags={"a": "b"})
    callback.run_ids.append("abc")
    copy = pickle.loads(pickle.dumps(callback))
    assert copy.tags == {"a": "b"} and copy.run_ids == []


def test_max_child_runs_is_validated():
    with pytest.raises(ValueError, match="max_child_runs"):
        JFrogMLCallback(max_child_runs=-1)


def test_missing_sklearn_names_the_extra(monkeypatch):
    monkeypatch.delitem(sys.modules, "jfml_tracking.integrations.sklearn")
    monkeypatch.setitem(sys.modules, "sklearn.base", None)
    with pytest.raises(ImportError, match=r"pip install 'jfml-tracking\[sklearn\]'"):
        import jfml_tracking.integrations.sklearn  # noqa: F401
