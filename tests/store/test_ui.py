"""`jfml ui` serves the MLflow UI (and its REST API) over the journal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.store.conftest import reset_mlflow
from tests.support.servers import free_port


@pytest.mark.slow
def test_jfml_ui_shows_the_journal(monkeypatch: pytest.MonkeyPatch, unique: str) -> None:
    import mlflow

    uri = "jfml+http://127.0.0.1:9"
    monkeypatch.setenv("JFML_MODE", "offline")
    monkeypatch.setenv("JF_ACCESS_TOKEN", "unused")
    reset_mlflow()
    try:
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(f"ui-{unique}")
        with mlflow.start_run():
            mlflow.log_metric("a", 1.0)
    finally:
        reset_mlflow()
    port = free_port()
    command = [sys.executable, "-c", "from jfml_tracking.cli import main; main()", "ui",
               "--uri", uri, "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        names: list[str] = []
        while time.monotonic() < deadline and f"ui-{unique}" not in names:
            try:
                answer = httpx.post(
                    f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search",
                    json={"max_results": 100},
                    timeout=5,
                )
                names = [e["name"] for e in answer.json().get("experiments", [])]
            except (httpx.TransportError, ValueError):
                time.sleep(0.3)
        assert f"ui-{unique}" in names
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
