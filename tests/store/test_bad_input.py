"""Bad input gets a clear error or documented behaviour; tracking trouble never raises."""

from __future__ import annotations

import logging
import math
from typing import Any

import pytest

from jfml_tracking.sync.outbox import pending
from tests.store.conftest import current_store, reset_mlflow, wait_until


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("jfml+http://", "has no host"),
        ("jfml+http://ml.example.com", "http"),
    ],
)
def test_invalid_uri_is_a_clear_error(uri: str, message: str) -> None:
    import mlflow

    reset_mlflow()
    try:
        with pytest.raises(mlflow.exceptions.MlflowException, match=message):
            mlflow.MlflowClient(tracking_uri=uri).search_experiments()
    finally:
        reset_mlflow()


def test_missing_credentials_journal_locally_and_say_so(
    jfml_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import mlflow

    reset_mlflow()
    try:
        with caplog.at_level(logging.WARNING):
            mlflow.set_tracking_uri("jfml+" + jfml_server.url)
            with mlflow.start_run() as run:
                mlflow.log_metric("loss", 0.1)
        assert "no credentials" in caplog.text and "jfml sync" in caplog.text
        assert mlflow.get_run(run.info.run_id).data.metrics == {"loss": 0.1}
        store = current_store()
        assert store.flush(0.1) == 2  # ensure_model + finish_run, kept for `jfml sync`
        assert "no credentials" in store.offline_reason
    finally:
        reset_mlflow()


def test_names_with_unicode_and_slashes_sync_verbatim(jfml_uri: str, api: Any, unique: str) -> None:
    import mlflow

    name = f"équipe/模型 🚀/{unique}"
    mlflow.set_experiment(name)
    with mlflow.start_run(run_name="run/ä/1"):
        mlflow.log_param("chemin", "a/b/ç")
    assert current_store().flush(20) == 0
    model = api.find_model_by_name(name)
    assert model is not None
    [experiment] = list(api.iter_experiments(model_id=model.id))
    assert experiment.name == "run/ä/1"
    assert experiment.parameters == {"chemin": "a/b/ç"}


def test_model_name_taken_by_another_team_is_adopted(jfml_uri: str, api: Any, unique: str) -> None:
    import mlflow

    theirs = api.create_model(name=f"shared-{unique}", description="made by another team")
    mlflow.set_experiment(f"shared-{unique}")
    with mlflow.start_run(run_name="ours"):
        mlflow.log_metric("acc", 0.8)
    assert current_store().flush(20) == 0
    assert [m.id for m in api.iter_models() if m.name == f"shared-{unique}"] == [theirs.id]
    assert [e.name for e in api.iter_experiments(model_id=theirs.id)] == ["ours"]


def test_nan_and_inf_stay_local_and_are_left_out_visibly(
    jfml_uri: str, api: Any, unique: str, caplog: pytest.LogCaptureFixture
) -> None:
    import mlflow

    from jfml_tracking.sync import mapping

    mapping._non_finite_warned = False
    mlflow.set_experiment(f"nan-{unique}")
    with caplog.at_level(logging.WARNING), mlflow.start_run() as run:
        mlflow.log_metrics({"ok": 1.0, "nan": math.nan, "inf": math.inf, "ninf": -math.inf})
    assert current_store().flush(20) == 0
    assert "NaN/infinite" in caplog.text
    model = api.find_model_by_name(f"nan-{unique}")
    [experiment] = list(api.iter_experiments(model_id=model.id))
    assert experiment.metrics == {"ok": 1.0}
    local = mlflow.get_run(run.info.run_id).data.metrics
    assert math.isnan(local["nan"]) and local["inf"] > 1e308 and local["ninf"] < -1e308


def test_unreachable_server_never_raises_in_the_training_thread(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    import mlflow

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: connections are refused
    monkeypatch.setenv("JF_ACCESS_TOKEN", "t")
    monkeypatch.setenv("JFML_RETRY_MAX_ATTEMPTS", "1")
    reset_mlflow()
    try:
        mlflow.set_tracking_uri(f"jfml+http://127.0.0.1:{port}")
        mlflow.set_experiment("offline-by-accident")
        with mlflow.start_run() as run:
            for step in range(20):
                mlflow.log_metric("loss", 1 / (step + 1), step=step)
        store = current_store()
        assert store.flush(0.5) == 2
        assert mlflow.get_run(run.info.run_id).info.status == "FINISHED"
        # The failure is a warning, once, and the last error is kept for `jfml status`.
        wait_until(lambda: any(i.last_error for i in pending(store.journal)))
        errors = [i.last_error for i in pending(store.journal) if i.last_error]
        assert any("ConnectionFailed" in e for e in errors)
        wait_until(lambda: "could not send to JFrog ML yet" in caplog.text)
    finally:
        reset_mlflow()


def test_soft_delete_never_deletes_in_jfrog_ml(
    jfml_uri: str, api: Any, unique: str, caplog: pytest.LogCaptureFixture
) -> None:
    import mlflow

    from jfml_tracking import _once

    _once._said.discard("tracking:soft-delete")  # warned once per process
    exp_id = mlflow.set_experiment(f"keep-{unique}").experiment_id
    with mlflow.start_run() as run:
        mlflow.log_metric("m", 1.0)
    assert current_store().flush(20) == 0
    with caplog.at_level(logging.WARNING):
        mlflow.delete_run(run.info.run_id)
        mlflow.delete_experiment(exp_id)
    assert "nothing is deleted in JFrog ML" in caplog.text
    model = api.find_model_by_name(f"keep-{unique}")
    assert model is not None
    assert len(list(api.iter_experiments(model_id=model.id))) == 1
