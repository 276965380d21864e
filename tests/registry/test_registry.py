"""The model registry through MLflow's public API, against the real reference server."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.deployments.helpers import wait_until
from tests.registry.conftest import registry_store, train_and_log

# Stages are deprecated in MLflow but still part of the registry contract we map.
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def _versions(jfrog: Any, name: str) -> list[Any]:
    model = jfrog.find_model_by_name(name)
    return list(jfrog.iter_model_versions(model.id)) if model else []


def _sent(timeout: float = 20.0) -> None:
    """Wait until everything pending reached the server."""
    assert registry_store().flush(timeout) == 0


def test_register_model_makes_exactly_one_jfrog_version_with_the_run(
    jfml_uri: str, jfrog: Any, unique: str
) -> None:
    import mlflow

    mlflow.set_experiment(f"exp-{unique}")
    trained = train_and_log(alpha=0.25)
    name = f"reg-{unique}"
    registered = mlflow.register_model(trained.info.model_uri, name)
    assert registered.version == 1
    _sent()
    versions = _versions(jfrog, name)
    assert len(versions) == 1
    (version,) = versions
    assert version.version == "1"
    assert version.status == "draft"
    assert version.parameters == {"alpha": "0.25"}
    assert set(version.metrics) == {"r2"}
    logged = mlflow.get_logged_model(trained.info.model_id)
    assert version.artifact_path == logged.artifact_location

    mlflow.pyfunc.load_model(version.artifact_path)  # what the server deploys is loadable
    _sent()
    assert len(_versions(jfrog, name)) == 1  # replays change nothing


def test_log_model_with_registered_model_name_publishes_the_version(
    jfml_uri: str, jfrog: Any, unique: str
) -> None:
    import mlflow
    import mlflow.sklearn
    import numpy as np
    from sklearn.linear_model import LinearRegression

    mlflow.set_experiment(f"exp-{unique}")
    name = f"inline-{unique}"
    X = np.arange(8.0).reshape(4, 2)
    with mlflow.start_run():
        mlflow.log_params({"fit_intercept": True})
        mlflow.log_metric("mse", 0.5)
        info = mlflow.sklearn.log_model(
            LinearRegression().fit(X, X[:, 0]),
            name="model",
            registered_model_name=name,
            pip_requirements=["scikit-learn"],
        )
    _sent()
    (version,) = _versions(jfrog, name)
    assert version.version == "1"
    assert version.parameters == {"fit_intercept": "True"}
    assert version.metrics == {"mse": 0.5}
    assert version.artifact_path == mlflow.get_logged_model(info.model_id).artifact_location


def test_registered_model_description_and_tags_reach_jfrog(
    jfml_uri: str, jfrog: Any, unique: str
) -> None:
    from mlflow import MlflowClient

    client = MlflowClient()
    name = f"crud-{unique}"
    client.create_registered_model(name, tags={"team": "risk"}, description="first")
    _sent()
    model = jfrog.find_model_by_name(name)
    assert model.description == "first"
    assert "team=risk" in model.tags

    client.update_registered_model(name, description="second")
    client.set_registered_model_tag(name, "tier", "gold")
    client.delete_registered_model_tag(name, "team")
    _sent()
    model = jfrog.get_model(model.id)
    assert model.description == "second"
    assert "tier=gold" in model.tags and "team=risk" not in model.tags

    assert client.get_registered_model(name).description == "second"
    found = client.search_registered_models(filter_string=f"name = '{name}'")
    assert [m.name for m in found] == [name]


def test_versions_search_latest_and_delete(
    jfml_uri: str, jfrog: Any, unique: str, caplog: pytest.LogCaptureFixture, warnings_reset: None
) -> None:
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    mlflow.set_experiment(f"exp-{unique}")
    client = MlflowClient()
    name = f"ver-{unique}"
    for alpha in (0.5, 1.0):
        mlflow.register_model(train_and_log(alpha=alpha).info.model_uri, name)
    found = client.search_model_versions(f"name = '{name}'")
    assert sorted(int(v.version) for v in found) == [1, 2]
    assert [v.version for v in client.get_latest_versions(name)] == [2]
    _sent()
    assert sorted(v.version for v in _versions(jfrog, name)) == ["1", "2"]

    with caplog.at_level(logging.WARNING, logger="jfml_tracking.registry"):
        client.delete_model_version(name, "1")
    assert "JFrog ML keeps it" in caplog.text
    with pytest.raises(MlflowException):
        client.get_model_version(name, "1")
    client.delete_registered_model(name)
    with pytest.raises(MlflowException):
        client.get_registered_model(name)
    assert len(_versions(jfrog, name)) == 2  # deleting in MLflow never deletes in JFrog ML


def test_stage_alias_and_version_uris_load_the_model(
    jfml_uri: str, jfrog: Any, unique: str, caplog: pytest.LogCaptureFixture, warnings_reset: None
) -> None:
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_experiment(f"exp-{unique}")
    client = MlflowClient()
    name = f"uri-{unique}"
    trained = train_and_log()
    mlflow.register_model(trained.info.model_uri, name)
    _sent()
    with caplog.at_level(logging.WARNING, logger="jfml_tracking.registry"):
        client.transition_model_version_stage(name, "1", "Production")
        client.update_model_version(name, "1", description="promoted")
    assert caplog.text.count("cannot change a model version") == 1  # warned once
    client.set_registered_model_alias(name, "champion", "1")

    assert client.get_model_version_by_alias(name, "champion").version == 1
    assert [v.version for v in client.get_latest_versions(name, stages=["Production"])] == [1]
    assert client.get_model_version(name, "1").description == "promoted"
    expected = trained.model.predict(trained.X).tolist()
    for uri in (f"models:/{name}/1", f"models:/{name}@champion", f"models:/{name}/Production"):
        assert mlflow.pyfunc.load_model(uri).predict(trained.X).tolist() == expected, uri
    (version,) = _versions(jfrog, name)
    assert version.status == "draft"  # sent before the transition; the contract cannot update


def test_stage_set_before_sync_is_sent_as_the_version_status(
    jfml_uri: str, jfrog: Any, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    from click.testing import CliRunner
    from mlflow import MlflowClient

    from jfml_tracking.cli import main
    from tests.deployments.helpers import reset_mlflow

    monkeypatch.setenv("JFML_MODE", "offline")
    reset_mlflow()
    mlflow.set_tracking_uri(jfml_uri)
    mlflow.set_experiment(f"exp-{unique}")
    name = f"offline-{unique}"
    mlflow.register_model(train_and_log().info.model_uri, name)
    MlflowClient().transition_model_version_stage(name, "1", "Staging")
    MlflowClient().update_registered_model(name, description="made offline")
    assert jfrog.find_model_by_name(name) is None

    monkeypatch.delenv("JFML_MODE")
    reset_mlflow()
    result = CliRunner().invoke(main, ["sync"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (version,) = _versions(jfrog, name)
    assert version.status == "staging"
    assert jfrog.find_model_by_name(name).description == "made offline"


def test_rename_keeps_the_jfrog_model_and_renames_it(
    jfml_uri: str, jfrog: Any, unique: str
) -> None:
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_experiment(f"exp-{unique}")
    old, new = f"old-{unique}", f"new-{unique}"
    mlflow.register_model(train_and_log().info.model_uri, old)
    _sent()
    model_id = jfrog.find_model_by_name(old).id
    MlflowClient().rename_registered_model(old, new)
    mlflow.register_model(train_and_log(alpha=2.0).info.model_uri, new)
    _sent()
    wait_until(lambda: jfrog.get_model(model_id).name == new, timeout=10)
    assert sorted(v.version for v in _versions(jfrog, new)) == ["1", "2"]
    assert jfrog.find_model_by_name(old) is None
