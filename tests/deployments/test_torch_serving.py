"""A small torch model via ``mlflow.pytorch``: registered, deployed by the CLI, predicted."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.deployments.helpers import ServingEnv, pid_alive, wait_until

pytestmark = pytest.mark.slow


def _cli(env: ServingEnv, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlflow", "deployments", *args],
        env={**os.environ, **env.env()},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _tiny_torch_model() -> tuple[Any, Any]:
    import numpy as np
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    x = torch.tensor(np.random.default_rng(0).integers(-8, 8, (32, 4)) / 4.0, dtype=torch.float32)
    y = x @ torch.ones(4, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(20):
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
    return model.eval(), x.numpy()


def test_torch_model_round_trip(jfml_env: ServingEnv, tmp_path: Path) -> None:
    import mlflow
    import mlflow.pytorch
    import numpy as np
    import torch
    from mlflow import MlflowClient

    name = f"torch-{uuid.uuid4().hex[:8]}"
    mlflow.set_tracking_uri(jfml_env.uri)
    mlflow.set_experiment(f"exp-{name}")
    model, x = _tiny_torch_model()
    with mlflow.start_run():
        info = mlflow.pytorch.log_model(
            model, name="model", input_example=x[:2], pip_requirements=["torch"]
        )
    mlflow.register_model(info.model_uri, name)
    MlflowClient().set_registered_model_alias(name, "champion", "1")

    created = _cli(
        jfml_env, "create", "-t", "jfml", "--name", name, "-m", f"models:/{name}@champion",
        "-C", "replicas=1", "-C", "cpu=1", "-C", "memory=1Gi", "-C", "gpu=0", cwd=tmp_path,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr[-2000:]

    from mlflow.deployments import get_deploy_client

    client = get_deploy_client("jfml")
    answer = client.predict(name, {"inputs": x[:6].tolist()})
    served = np.array(answer["predictions"], dtype=np.float32)
    with torch.no_grad():
        local = model(torch.from_numpy(x[:6])).numpy()
    np.testing.assert_array_equal(served, local)

    deployment = client.get_deployment(name)
    assert deployment["replicas"] == 1
    assert deployment["resources"] == {"cpu": "1", "memory": "1Gi", "gpu": 0}  # -C reached it
    pids = jfml_env.runtime.get(deployment["id"]).worker_pids()
    assert pids and all(map(pid_alive, pids))
    client.delete_deployment(name)
    wait_until(lambda: not any(map(pid_alive, pids)), timeout=30)
