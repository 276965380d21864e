"""``mlflow deployments run-local -t jfml`` serves a model in the foreground, no server needed."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.deployments.helpers import wait_until
from tests.support.servers import free_port

pytestmark = pytest.mark.slow


def test_run_local_serves_the_model(tmp_path: Path) -> None:
    import mlflow.sklearn
    import numpy as np
    from sklearn.linear_model import LinearRegression

    X = np.arange(10.0).reshape(5, 2)
    model = LinearRegression().fit(X, X[:, 0] * 3 + 1)
    path = tmp_path / "model"
    mlflow.sklearn.save_model(
        model, path, pip_requirements=["scikit-learn"], serialization_format="cloudpickle"
    )
    port = free_port()
    log = (tmp_path / "run-local.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "deployments", "run-local", "-t", "jfml",
         "--name", "local", "-m", str(path), "-C", f"port={port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:

        def answering() -> bool:
            assert proc.poll() is None, (tmp_path / "run-local.log").read_text()[-2000:]
            try:
                return httpx.get(base + "/ping", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(answering, timeout=120, interval=0.2)
        answer = httpx.post(base + "/invocations", json={"inputs": X[:3].tolist()})
        assert answer.json()["predictions"] == model.predict(X[:3]).tolist()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
