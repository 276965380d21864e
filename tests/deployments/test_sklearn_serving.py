"""A scikit-learn model trained, registered, deployed on the reference server and predicted.

One deployment (2 replicas) serves the whole module; the failure cases deploy broken versions
next to it and check that it keeps answering.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from tests.deployments.helpers import TOKEN, ServingEnv, pid_alive, wait_until

pytestmark = pytest.mark.slow

# The server guards /serving like the API: raw requests carry the token.
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _quarter_frame(rows: int, seed: int) -> Any:
    """Inputs that are exact binary fractions, so every JSON parser reads them back exactly."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    values = rng.integers(-12, 12, size=(rows, 4)) / 4.0
    return pd.DataFrame(values, columns=["a", "b", "c", "d"])


def _train(alpha: float) -> Any:
    from sklearn.linear_model import Ridge

    X = _quarter_frame(60, seed=0)
    y = X["a"] * 1.5 - X["c"] + 0.3
    return Ridge(alpha=alpha).fit(X, y), X


def _log_model(model: Any, X: Any) -> Any:
    import mlflow.sklearn

    # Explicit requirements skip MLflow's requirement inference (a subprocess, ~15 s here);
    # cloudpickle loads in a fraction of skops' time, which every worker start pays.
    return mlflow.sklearn.log_model(
        model,
        name="model",
        input_example=X.head(2),
        pip_requirements=["scikit-learn"],
        serialization_format="cloudpickle",
    )


@pytest.fixture(scope="module")
def sk(serving: ServingEnv) -> SimpleNamespace:
    """Version 1 of a registered sklearn model, logged from a run with a param and a metric."""
    import mlflow
    import mlflow.sklearn

    name = f"sk-{uuid.uuid4().hex[:8]}"
    mlflow.set_tracking_uri(serving.uri)
    mlflow.set_experiment(f"exp-{name}")
    model, X = _train(alpha=0.5)
    with mlflow.start_run():
        mlflow.log_param("alpha", 0.5)
        mlflow.log_metric("r2", model.score(X, X["a"] * 1.5 - X["c"] + 0.3))
        info = _log_model(model, X)
    version = mlflow.register_model(info.model_uri, name)
    return SimpleNamespace(name=name, model=model, X=X, version=version)


@pytest.fixture(scope="module")
def deployment(serving: ServingEnv, sk: SimpleNamespace) -> dict[str, Any]:
    from mlflow.deployments import get_deploy_client

    client = get_deploy_client("jfml")
    return client.create_deployment(
        f"{sk.name}-prod", f"models:/{sk.name}/1", config={"replicas": "2", "cpu": "1"}
    )


def _deploy_client() -> Any:
    from mlflow.deployments import get_deploy_client

    return get_deploy_client("jfml")


def _cli(env: ServingEnv, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **env.env()}
    return subprocess.run(
        [sys.executable, "-m", "mlflow", "deployments", *args],
        env=full_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _last_json(stdout: str) -> Any:
    line = next(line for line in reversed(stdout.splitlines()) if line.startswith("{"))
    return json.loads(line)


def test_deployment_becomes_active_with_an_endpoint(
    jfml_env: ServingEnv, deployment: dict[str, Any]
) -> None:
    assert deployment["status"] == "active"
    assert deployment["replicas"] == 2
    assert deployment["endpoint_url"].startswith(jfml_env.server.url + "/serving/")
    served = jfml_env.runtime.get(deployment["id"])
    assert len(served.worker_pids()) == 2
    for pid in served.worker_pids():  # the server's token reaches no worker
        for proc_file in ("cmdline", "environ"):
            assert TOKEN.encode() not in Path(f"/proc/{pid}/{proc_file}").read_bytes()


def test_predictions_equal_the_local_model_for_every_payload_format(
    jfml_env: ServingEnv, sk: SimpleNamespace, deployment: dict[str, Any]
) -> None:
    client = _deploy_client()
    X = _quarter_frame(7, seed=3)
    expected = sk.model.predict(X).tolist()
    records = X.to_dict(orient="records")
    payloads = [
        X,
        {"dataframe_split": X.to_dict(orient="split")},
        {"dataframe_records": records},
        {"instances": records},
        {"inputs": {column: X[column].tolist() for column in X.columns}},
    ]
    for payload in payloads:
        answer = client.predict(deployment["name"], payload)
        assert answer["predictions"] == expected, type(payload)


def test_cli_predict_answers_exactly_the_local_predictions(
    jfml_env: ServingEnv, sk: SimpleNamespace, deployment: dict[str, Any], tmp_path: Path
) -> None:
    X = _quarter_frame(5, seed=4)
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"dataframe_split": X.to_dict(orient="split")}))
    done = _cli(
        jfml_env, "predict", "-t", "jfml", "--name", deployment["name"],
        "--input-path", str(request), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert _last_json(done.stdout)["predictions"] == sk.model.predict(X).tolist()


def test_malformed_payload_is_a_400_with_a_message(
    jfml_env: ServingEnv, deployment: dict[str, Any]
) -> None:
    url = deployment["endpoint_url"]
    headers = {"Content-Type": "application/json", **AUTH}
    bad_json = httpx.post(url, content=b"{not json", headers=headers)
    assert bad_json.status_code == 400
    assert "JSON" in bad_json.json()["error"]["message"]
    no_key = httpx.post(url, json={"rows": [[1, 2, 3, 4]]}, headers=AUTH)
    assert no_key.status_code == 400
    error = no_key.json()["error"]
    assert error["code"] == "bad_request"
    assert "dataframe_split" in error["message"]

    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException, match="400"):
        _deploy_client().predict(deployment["name"], '{"inputs": "no"')


def test_the_endpoint_needs_the_api_credentials_and_predict_sends_them(
    jfml_env: ServingEnv, deployment: dict[str, Any], sk: SimpleNamespace
) -> None:
    url = deployment["endpoint_url"]
    X = sk.X.head(3)
    body = {"dataframe_split": X.to_dict(orient="split")}
    for headers in ({}, {"Authorization": "Bearer wrong-token"}):
        refused = httpx.post(url, json=body, headers=headers)
        assert refused.status_code == 401
        challenges = refused.headers.get_list("WWW-Authenticate")
        assert any(c.startswith("Bearer") for c in challenges)
        assert refused.json()["error"]["code"] == "unauthorized"
    accepted = httpx.post(url, json=body, headers=AUTH)
    assert accepted.status_code == 200
    assert accepted.json()["predictions"] == sk.model.predict(X).tolist()

    predicted = _deploy_client().predict(deployment["name"], X)  # the plugin sends the token
    assert predicted.get_predictions()[0].tolist() == sk.model.predict(X).tolist()
    assert httpx.get(jfml_env.server.url + "/health").status_code == 200  # still open


def test_an_oversized_payload_is_a_413(
    jfml_env: ServingEnv, deployment: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from jfml_tracking.server.serving import _proxy

    monkeypatch.setattr(_proxy, "MAX_BODY_BYTES", 1000)
    payload = {"inputs": [[0.25] * 4] * 200}
    answer = httpx.post(deployment["endpoint_url"], json=payload, headers=AUTH)
    assert answer.status_code == 413
    assert "smaller requests" in answer.json()["error"]["message"]


def _register_bare_version(env: ServingEnv, model_name: str, artifact_path: str) -> None:
    """A JFrog model version made directly through the API (as another tool would)."""
    from jfml_tracking.client import JFrogMLClient

    with JFrogMLClient.from_tracking_uri(env.uri) as client:
        model = client.find_model_by_name(model_name) or client.create_model(name=model_name)
        client.create_model_version(model.id, version="1", artifact_path=artifact_path)


def _broken_model_dir(root: Path) -> Path:
    path = root / "broken-model"
    path.mkdir()
    (path / "MLmodel").write_text(
        "flavors:\n  python_function:\n    loader_module: jfml_no_such_loader_module\n"
    )
    return path


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("missing", "artifact not found"),
        ("not-a-model", "not an MLflow model"),
        ("import-error", "jfml_no_such_loader_module"),
    ],
)
def test_a_broken_version_ends_failed_and_the_others_keep_serving(
    jfml_env: ServingEnv,
    sk: SimpleNamespace,
    deployment: dict[str, Any],
    tmp_path: Path,
    kind: str,
    reason: str,
) -> None:
    from mlflow.exceptions import MlflowException

    artifact = {
        "missing": str(tmp_path / "does-not-exist"),
        "not-a-model": str(tmp_path),
        "import-error": str(_broken_model_dir(tmp_path)) if kind == "import-error" else "",
    }[kind]
    name = f"broken-{kind}-{uuid.uuid4().hex[:6]}"
    _register_bare_version(jfml_env, name, artifact)
    client = _deploy_client()
    with pytest.raises(MlflowException, match=reason):
        client.create_deployment(name, f"models:/{name}/1")
    shown = client.get_deployment(name)
    assert shown["status"] == "failed"
    assert reason in shown["status_reason"]

    X = _quarter_frame(3, seed=5)
    answer = client.predict(deployment["name"], X)
    assert answer["predictions"] == sk.model.predict(X).tolist()
    client.delete_deployment(name)


def test_a_crashed_worker_is_restarted_while_the_other_serves(
    jfml_env: ServingEnv, sk: SimpleNamespace, deployment: dict[str, Any]
) -> None:
    served = jfml_env.runtime.get(deployment["id"])
    before = served.worker_pids()
    os.kill(before[0], signal.SIGKILL)
    client = _deploy_client()
    X = _quarter_frame(2, seed=6)
    for _ in range(4):  # round-robin hits the dead worker's port: the proxy moves on
        assert client.predict(deployment["name"], X)["predictions"] == sk.model.predict(X).tolist()

    def replaced() -> bool:
        pids = served.worker_pids()
        return len(pids) == 2 and before[0] not in pids and all(map(pid_alive, pids))

    wait_until(replaced, timeout=90)
    wait_until(lambda: served.ports() and len(served.ports()) == 2, timeout=30)
    assert client.get_deployment(deployment["name"])["status"] == "active"


def test_update_restores_on_failure_serves_the_new_version_and_delete_stops_workers(
    jfml_env: ServingEnv, sk: SimpleNamespace, deployment: dict[str, Any], tmp_path: Path
) -> None:
    import mlflow
    from mlflow.exceptions import MlflowException

    client = _deploy_client()
    name = deployment["name"]
    broken = f"broken-update-{uuid.uuid4().hex[:6]}"
    _register_bare_version(jfml_env, broken, str(tmp_path / "gone"))
    with pytest.raises(MlflowException, match="previous version was deployed again"):
        client.update_deployment(name, f"models:/{broken}/1")
    restored = client.get_deployment(name)
    assert restored["model_version_id"] == deployment["model_version_id"]
    wait_until(lambda: client.get_deployment(name)["status"] == "active", timeout=120)

    model2, X = _train(alpha=25.0)
    with mlflow.start_run():
        info = _log_model(model2, X)
    assert mlflow.register_model(info.model_uri, sk.name).version == 2
    old_pids = jfml_env.runtime.get(restored["id"]).worker_pids()
    updated = client.update_deployment(name, f"models:/{sk.name}/2", config={"replicas": "1"})
    assert updated["status"] == "active"
    assert updated["model_version_id"] != deployment["model_version_id"]
    assert updated["replicas"] == 1
    wait_until(lambda: not any(map(pid_alive, old_pids)), timeout=30)
    X_new = _quarter_frame(4, seed=7)
    assert client.predict(name, X_new)["predictions"] == model2.predict(X_new).tolist()

    new_pids = jfml_env.runtime.get(updated["id"]).worker_pids()
    client.delete_deployment(name)
    wait_until(lambda: not any(map(pid_alive, new_pids)), timeout=30)
    assert all(d["name"] != name for d in client.list_deployments())
