"""Everything MLflow tracking offers, through a jfml URI, with MLflow's public API only."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from tests.store.conftest import wait_until


def test_experiments_create_get_tags_rename_delete_restore_search(offline_uri: str) -> None:
    import mlflow

    client = mlflow.MlflowClient()
    exp_id = client.create_experiment("alpha", tags={"team": "risk"})
    mlflow.set_experiment("beta")
    assert client.get_experiment_by_name("alpha").experiment_id == exp_id
    client.set_experiment_tag(exp_id, "stage", "dev")
    assert client.get_experiment(exp_id).tags == {"team": "risk", "stage": "dev"}
    client.rename_experiment(exp_id, "alpha-2")
    assert client.get_experiment(exp_id).name == "alpha-2"
    found = mlflow.search_experiments(filter_string="tags.team = 'risk'")
    assert [e.name for e in found] == ["alpha-2"]
    ordered = [e.name for e in mlflow.search_experiments(order_by=["name DESC"])]
    assert ordered[:2] == ["beta", "alpha-2"]
    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    assert "alpha-2" not in [e.name for e in mlflow.search_experiments()]
    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"


def test_runs_nested_resumed_tagged_with_status(offline_uri: str) -> None:
    import mlflow

    mlflow.set_experiment("runs")
    with (
        mlflow.start_run(run_name="parent", tags={"owner": "ana"}) as parent,
        mlflow.start_run(run_name="child", nested=True) as child,
    ):
        mlflow.set_tag("kind", "child")
    client = mlflow.MlflowClient()
    assert client.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == parent.info.run_id
    with mlflow.start_run(run_id=parent.info.run_id):
        mlflow.log_param("resumed", "yes")
    resumed = client.get_run(parent.info.run_id)
    assert resumed.data.params == {"resumed": "yes"}
    assert resumed.data.tags["owner"] == "ana"
    assert resumed.info.run_name == "parent"
    mlflow.start_run(run_name="broken")
    mlflow.end_run(status="FAILED")
    failed = mlflow.last_active_run()
    assert failed is not None and failed.info.status == "FAILED"
    client.delete_run(failed.info.run_id)
    with pytest.raises(mlflow.exceptions.MlflowException, match="must be in the 'active' state"):
        client.log_metric(failed.info.run_id, "m", 1.0)
    client.restore_run(failed.info.run_id)
    client.log_metric(failed.info.run_id, "m", 1.0)


def test_params_metrics_history_and_log_batch(offline_uri: str) -> None:
    import mlflow
    from mlflow.entities import Metric, Param, RunTag

    client = mlflow.MlflowClient()
    with mlflow.start_run() as run:
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        now = int(time.time() * 1000)
        client.log_batch(
            run.info.run_id,
            metrics=[Metric("acc", 0.1 * i, now + i, i) for i in range(10)],
            params=[Param("lr", "0.01"), Param("long", "x" * 6000)],
            tags=[RunTag("mlflow.runName", "renamed"), RunTag("t", "v")],
        )
        mlflow.log_params({"lr": "0.01"})  # the same value again is fine
        with pytest.raises(mlflow.exceptions.MlflowException, match="Changing param values"):
            mlflow.log_param("lr", "0.02")
        mlflow.log_param("too-long", "y" * 6001)  # MLflow truncates it, with a warning
        mlflow.log_metric("weird", math.nan)
        mlflow.log_metric("big", math.inf)
    data = client.get_run(run.info.run_id)
    assert data.data.metrics["loss"] == pytest.approx(0.2)
    assert data.data.metrics["acc"] == pytest.approx(0.9)
    assert math.isnan(data.data.metrics["weird"])
    assert data.data.metrics["big"] == 1.7976931348623157e308  # as in MLflow's SQL stores
    assert data.data.params["long"] == "x" * 6000
    assert data.info.run_name == "renamed"
    assert data.data.params["too-long"] == "y" * 6000
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, round(m.value, 3)) for m in history] == [
        (0, 1.0), (1, 0.5), (2, 0.333), (3, 0.25), (4, 0.2)
    ]  # fmt: skip


def test_search_runs_with_filters_and_order(offline_uri: str) -> None:
    import mlflow

    mlflow.set_experiment("search")
    for i in range(4):
        with mlflow.start_run(run_name=f"r{i}"):
            mlflow.log_param("depth", str(i))
            mlflow.log_metric("score", i * 10)
            mlflow.set_tag("parity", "even" if i % 2 == 0 else "odd")
    frame = mlflow.search_runs(
        filter_string="metrics.score >= 10 and tags.parity = 'even'", order_by=["metrics.score"]
    )
    assert list(frame["tags.mlflow.runName"]) == ["r2"]
    runs = mlflow.search_runs(order_by=["params.depth DESC"], output_format="list")
    assert [r.info.run_name for r in runs] == ["r3", "r2", "r1", "r0"]


def test_datasets_log_input(offline_uri: str) -> None:
    import mlflow
    import pandas as pd

    frame = pd.DataFrame({"x": [1, 2, 3], "y": [0, 1, 0]})
    dataset = mlflow.data.from_pandas(frame, name="toy", targets="y")
    with mlflow.start_run() as run:
        mlflow.log_input(dataset, context="training")
    inputs = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    assert [d.dataset.name for d in inputs] == ["toy"]
    assert inputs[0].tags[0].value == "training"


def test_async_logging_is_thread_safe(offline_uri: str) -> None:
    import threading

    import mlflow

    with mlflow.start_run() as run:
        run_id = run.info.run_id

        def worker(name: str) -> None:
            for step in range(50):
                mlflow.log_metric(name, step, step=step, synchronous=False, run_id=run_id)

        threads = [threading.Thread(target=worker, args=(f"m{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        mlflow.flush_async_logging()
    client = mlflow.MlflowClient()
    for i in range(4):
        assert len(client.get_metric_history(run_id, f"m{i}")) == 50


def test_system_metrics_logging(offline_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.1")
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING", "1")
    with mlflow.start_run(log_system_metrics=True) as run:
        client = mlflow.MlflowClient()
        wait_until(
            lambda: any(
                k.startswith("system/") for k in client.get_run(run.info.run_id).data.metrics
            )
        )


def test_artifacts_default_under_jfml_home(offline_uri: str, tmp_path: Path) -> None:
    import mlflow

    note = tmp_path / "note.txt"
    note.write_text("hello")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(note))
    home = Path(tmp_path / "_jfml_home").resolve()
    assert Path(run.info.artifact_uri.removeprefix("file://")).resolve().is_relative_to(home)
    local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="note.txt")
    assert Path(local).read_text() == "hello"


def test_artifact_root_from_jfml_artifact_root(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import mlflow

    from tests.store.conftest import reset_mlflow

    root = tmp_path / "elsewhere"
    monkeypatch.setenv("JFML_MODE", "offline")
    monkeypatch.setenv("JF_ACCESS_TOKEN", "unused")
    monkeypatch.setenv("JFML_ARTIFACT_ROOT", root.as_uri())
    reset_mlflow()
    try:
        mlflow.set_tracking_uri("jfml+http://127.0.0.1:9")
        mlflow.set_experiment("artifacts-elsewhere")
        with mlflow.start_run() as run:
            mlflow.log_text("hi", "a.txt")
        assert run.info.artifact_uri.startswith(root.as_uri())
        assert list(root.rglob("a.txt"))
    finally:
        reset_mlflow()


def test_logged_model_api(offline_uri: str) -> None:
    import mlflow

    mlflow.set_experiment("logged-models")
    client = mlflow.MlflowClient()
    exp = mlflow.get_experiment_by_name("logged-models")
    with mlflow.start_run() as run:
        model = mlflow.initialize_logged_model(name="ext", model_type="agent", tags={"a": "1"})
        client.log_model_params(model.model_id, {"k": "v"})
        client.set_logged_model_tags(model.model_id, {"b": "2"})
        mlflow.log_metric("acc", 0.5, model_id=model.model_id)
        mlflow.finalize_logged_model(model.model_id, "READY")
    fetched = mlflow.get_logged_model(model.model_id)
    assert fetched.status == "READY"
    assert fetched.params == {"k": "v"}
    assert {"a": "1", "b": "2"}.items() <= fetched.tags.items()
    assert [m.value for m in fetched.metrics] == [0.5]
    found = mlflow.search_logged_models(
        experiment_ids=[exp.experiment_id], filter_string="name = 'ext'", output_format="list"
    )
    assert [m.model_id for m in found] == [model.model_id]
    assert run.info.run_id


@pytest.mark.slow
def test_sklearn_autolog_with_gridsearch_child_runs(offline_uri: str) -> None:
    import mlflow
    from sklearn.datasets import load_iris
    from sklearn.model_selection import GridSearchCV
    from sklearn.tree import DecisionTreeClassifier

    mlflow.set_experiment("autolog")
    mlflow.sklearn.autolog(log_models=True, log_input_examples=False, silent=True)
    try:
        x, y = load_iris(return_X_y=True)
        search = GridSearchCV(DecisionTreeClassifier(), {"max_depth": [1, 2]}, cv=2)
        with mlflow.start_run() as run:
            search.fit(x, y)
    finally:
        mlflow.sklearn.autolog(disable=True)
    parent = mlflow.get_run(run.info.run_id)
    assert parent.info.status == "FINISHED"
    assert "best_cv_score" in parent.data.metrics
    children = mlflow.search_runs(
        filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}'", output_format="list"
    )
    assert len(children) == 2
    assert all("mean_test_score" in c.data.metrics for c in children)
    models = mlflow.search_logged_models(output_format="list")
    assert models and all(m.status == "READY" for m in models)


@pytest.mark.slow
def test_pytorch_log_model(offline_uri: str) -> None:
    import mlflow
    import torch

    mlflow.set_experiment("torch")
    with mlflow.start_run():
        info = mlflow.pytorch.log_model(
            torch.nn.Linear(2, 1),
            name="net",
            pip_requirements=["torch"],
            input_example=torch.zeros(1, 2).numpy(),
        )
    assert mlflow.get_logged_model(info.model_id).status == "READY"
    loaded = mlflow.pytorch.load_model(info.model_uri)
    assert loaded(torch.zeros(1, 2)).shape == (1, 1)


def test_forked_child_logs_through_the_inherited_store(offline_uri: str) -> None:
    import multiprocessing

    import mlflow

    with mlflow.start_run() as run:
        mlflow.log_metric("parent", 1.0)
        ctx = multiprocessing.get_context("fork")
        child = ctx.Process(target=_log_in_child, args=(run.info.run_id,))
        child.start()
        child.join(60)
        assert child.exitcode == 0
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "child")
    assert [m.step for m in history] == [0, 1, 2]


def _log_in_child(run_id: str) -> None:
    import os

    import mlflow

    client = mlflow.MlflowClient()
    for step in range(3):
        client.log_metric(run_id, "child", step, step=step)
    os._exit(0)  # as multiprocessing children do: no atexit hooks


def test_invalid_batch_is_rejected_whole(offline_uri: str) -> None:
    import mlflow
    from mlflow.entities import Metric, Param

    client = mlflow.MlflowClient()
    with mlflow.start_run() as run:
        good = Metric("ok", 1.0, 1, 0)
        for bad in (Metric("../escape", 1.0, 1, 0), Metric("text", "NaN-ish", 1, 0)):
            with pytest.raises(mlflow.exceptions.MlflowException, match="Invalid value"):
                client.log_batch(run.info.run_id, metrics=[good, bad], params=[Param("p", "1")])
    data = client.get_run(run.info.run_id).data
    assert data.metrics == {} and data.params == {}  # nothing half-written
