"""Fast checks of the pieces that need no server: artifacts, worker env, URIs, config, payloads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_artifact_checks_name_the_problem(tmp_path: Path) -> None:
    from jfml_tracking.server.serving._artifacts import ArtifactProblem, check_artifact

    with pytest.raises(ArtifactProblem, match="no artifact_path"):
        check_artifact(None)
    with pytest.raises(ArtifactProblem, match="artifact not found"):
        check_artifact(str(tmp_path / "gone"))
    with pytest.raises(ArtifactProblem, match="no MLmodel file"):
        check_artifact(tmp_path.as_uri())
    (tmp_path / "file.bin").write_bytes(b"x")
    with pytest.raises(ArtifactProblem, match="is a file"):
        check_artifact(str(tmp_path / "file.bin"))
    (tmp_path / "MLmodel").write_text("flavors: {}\n")
    assert check_artifact(tmp_path.as_uri()) == str(tmp_path)
    assert check_artifact("s3://bucket/model") == "s3://bucket/model"  # MLflow decides there


def test_worker_environment_has_no_secrets_and_caps_threads() -> None:
    from jfml_tracking.server.serving._process import worker_environment

    base = {
        "PATH": "/usr/bin",
        "JF_ACCESS_TOKEN": "t",
        "JF_PASSWORD": "p",
        "MLFLOW_TRACKING_TOKEN": "t",
        "MLFLOW_TRACKING_URI": "jfml://acme",
        "JFML_HOME": "/x",
        "AWS_SECRET_ACCESS_KEY": "k",
        "MY_DB_PASSWORD": "p",
    }
    env = worker_environment(base, {"cpu": "500m", "gpu": 0})
    assert env["PATH"] == "/usr/bin"
    assert set(env) & set(base) == {"PATH"}
    assert env["OMP_NUM_THREADS"] == "1" and env["CUDA_VISIBLE_DEVICES"] == ""
    assert worker_environment({}, {"cpu": "2", "gpu": 1})["MKL_NUM_THREADS"] == "2"
    assert "CUDA_VISIBLE_DEVICES" not in worker_environment({}, {"gpu": 1})


@pytest.mark.parametrize(
    ("uri", "fields"),
    [
        ("models:/churn/3", {"name": "churn", "version": "3"}),
        ("models:/churn@champion", {"name": "churn", "alias": "champion"}),
        ("models:/churn/production", {"name": "churn", "stage": "Production"}),
        ("models:/churn/latest", {"name": "churn", "stage": "latest"}),
        ("models:/m-0123abcd", {"logged_model_id": "m-0123abcd"}),
    ],
)
def test_models_uris_parse(uri: str, fields: dict[str, str]) -> None:
    from jfml_tracking.mlflow_plugin._registry_resolve import ModelRef, parse_models_uri

    assert parse_models_uri(uri) == ModelRef(**fields)


@pytest.mark.parametrize("uri", ["runs:/abc/model", "/tmp/model", "models:/churn/v3"])
def test_undeployable_uris_say_what_to_use(uri: str) -> None:
    from jfml_tracking.mlflow_plugin._registry_resolve import UnresolvableModelURI, parse_models_uri

    with pytest.raises(UnresolvableModelURI, match="models:/NAME/VERSION"):
        parse_models_uri(uri)


def test_config_options_are_validated() -> None:
    from mlflow.exceptions import MlflowException

    from jfml_tracking.mlflow_plugin.deployments import parse_config

    options = parse_config({"replicas": "2", "cpu": "1", "memory": "2Gi", "gpu": "0"})
    assert options["replicas"] == 2
    assert options["resources"] == {"cpu": "1", "memory": "2Gi", "gpu": 0}
    assert options["wait"] is True
    assert parse_config({"wait": "false"})["wait"] is False
    with pytest.raises(MlflowException, match="replicas, cpu, memory, gpu"):
        parse_config({"replica": "2"})
    with pytest.raises(MlflowException, match="whole number >= 1"):
        parse_config({"replicas": "0"})
    with pytest.raises(MlflowException, match="gpu"):
        parse_config({"gpu": "-1"})


def test_payload_files_read_by_the_cli_become_the_same_payload(tmp_path: Path) -> None:
    import pandas as pd

    from jfml_tracking.mlflow_plugin.deployments import scoring_payload

    payloads = [
        {"dataframe_split": {"columns": ["a", "b"], "data": [[1.5, 2], [3, 4]]}},
        {"dataframe_records": [{"a": 1.5, "b": 2}, {"a": 3, "b": 4}]},
        {"instances": [[1.5, 2], [3, 4]]},
        {"inputs": [[1.5, 2], [3, 4]]},
        {"inputs": {"a": [1.5, 3], "b": [2, 4]}},
    ]
    for payload in payloads:
        path = tmp_path / "request.json"
        path.write_text(json.dumps(payload))
        # What `mlflow deployments predict --input-path` hands the plugin.
        frame = pd.read_json(path)
        assert json.loads(scoring_payload(frame)) == payload


def test_plain_inputs_become_scoring_payloads() -> None:
    import numpy as np
    import pandas as pd

    from jfml_tracking.mlflow_plugin.deployments import scoring_payload

    frame = pd.DataFrame({"a": [0.1, 1e-300], "b": [2, 3]})
    split = json.loads(scoring_payload(frame))["dataframe_split"]
    assert split == {"columns": ["a", "b"], "data": [[0.1, 2], [1e-300, 3]]}  # exact floats
    assert json.loads(scoring_payload(np.array([[1.0, 2.0]]))) == {"inputs": [[1.0, 2.0]]}
    assert json.loads(scoring_payload([[1, 2]])) == {"inputs": [[1, 2]]}
    assert scoring_payload('{"inputs": [1]}') == b'{"inputs": [1]}'


def test_the_jfml_target_loads_and_explains_itself() -> None:
    from mlflow.deployments import get_deploy_client
    from mlflow.deployments.plugin_manager import DeploymentPlugins

    plugin = DeploymentPlugins()["jfml"]
    text = plugin.target_help()
    for option in ("replicas=", "cpu=", "memory=", "gpu=", "update", "jfml+http://"):
        assert option in text
    client = get_deploy_client("jfml://acme")
    assert type(client).__name__ == "JFrogMLDeploymentClient"
    assert client.tracking_uri == "jfml://acme"


def test_jfml_http_targets_resolve_to_the_plugin() -> None:
    from importlib.metadata import entry_points

    from mlflow.deployments import get_deploy_client

    names = {ep.name for ep in entry_points(group="mlflow.deployments")}
    if "jfml+http" not in names:
        pytest.skip("installed metadata predates the jfml+http target: reinstall (make venv)")
    for uri in ("jfml+http://127.0.0.1:8080", "jfml+https://ml.example.com"):
        client = get_deploy_client(uri)
        assert type(client).__name__ == "JFrogMLDeploymentClient"
        assert client.tracking_uri == uri
