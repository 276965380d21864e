"""``ProcessRuntime`` on its own: health checks, bounded restarts, isolation, shutdown, secrets."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.deployments.helpers import pid_alive, wait_until

pytestmark = pytest.mark.slow

SECRET = "s3cr3t-token-never-in-a-worker"


def _save_model(path: Path) -> Path:
    import mlflow.sklearn
    import numpy as np
    from sklearn.linear_model import Ridge

    X = np.arange(12, dtype=float).reshape(6, 2)
    mlflow.sklearn.save_model(
        Ridge().fit(X, X[:, 0]),
        path,
        pip_requirements=["scikit-learn"],
        serialization_format="cloudpickle",
    )
    return path


def _spec(deployment_id: str, artifact: Path) -> Any:
    from jfml_tracking.server.runtime import DeploymentSpec

    return DeploymentSpec(deployment_id, deployment_id, "mdl_x", "ver_x", str(artifact))


def _status(runtime: Any, deployment_id: str) -> str:
    return str(runtime.describe(deployment_id).status)


def test_hung_and_crashed_workers_recover_until_the_budget_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jfml_tracking.server.serving import ProcessRuntime, ServingLimits

    monkeypatch.setenv("JF_ACCESS_TOKEN", SECRET)
    artifact = _save_model(tmp_path / "model")
    limits = ServingLimits(max_restarts=1, health_interval=0.2, ping_every=2, ping_timeout=1.0)
    # Spawned workers here (the fallback where fork is unavailable); the server tests use the
    # default, workers forked from the zygote.
    runtime = ProcessRuntime(limits=limits, workdir=tmp_path / "work", fork_workers=False)
    try:
        for name in ("d1", "d2"):
            state = runtime.start(_spec(name, artifact), base_url="http://h")
            assert str(state.status) == "deploying"
            assert state.endpoint_url == f"http://h/serving/v1/deployments/{name}/invocations"
        wait_until(lambda: all(_status(runtime, d) == "active" for d in ("d1", "d2")), 120)
        d1, d2 = runtime.get("d1"), runtime.get("d2")

        (pid,) = d1.worker_pids()
        for proc_file in ("cmdline", "environ"):
            assert SECRET.encode() not in Path(f"/proc/{pid}/{proc_file}").read_bytes()

        os.kill(pid, signal.SIGSTOP)  # alive but not answering: the ping finds it
        wait_until(lambda: d1.worker_pids() and d1.worker_pids()[0] != pid and d1.ports(), 120)
        assert _status(runtime, "d1") == "active"

        (pid,) = d1.worker_pids()
        os.kill(pid, signal.SIGKILL)  # no restart left
        wait_until(lambda: _status(runtime, "d1") == "failed", 60)
        reason = runtime.describe("d1").reason
        assert "killed by signal 9" in reason and "gave up after 1 restart" in reason

        assert _status(runtime, "d2") == "active" and d2.ports()  # the other one is untouched
        survivors = d2.worker_pids()
    finally:
        runtime.close()
    assert not any(map(pid_alive, survivors))  # shutdown stops every worker


def test_workers_come_back_when_the_zygote_dies(tmp_path: Path) -> None:
    from jfml_tracking.server.serving import ProcessRuntime, ServingLimits

    artifact = _save_model(tmp_path / "model")
    limits = ServingLimits(health_interval=0.2)
    runtime = ProcessRuntime(limits=limits, workdir=tmp_path / "work", fork_workers=True)
    try:
        runtime.start(_spec("z1", artifact), base_url="http://h")
        wait_until(lambda: _status(runtime, "z1") == "active", 120)
        served = runtime.get("z1")
        (worker,) = served.worker_pids()
        zygote = runtime.zygote_pid
        assert zygote is not None

        os.kill(zygote, signal.SIGKILL)
        wait_until(lambda: not pid_alive(worker), 30)  # its workers die with it

        def replaced() -> bool:
            pids = served.worker_pids()
            return bool(served.ports()) and pids != [worker] and all(map(pid_alive, pids))

        wait_until(replaced, 120)
        assert runtime.zygote_pid not in (None, zygote)
        assert _status(runtime, "z1") == "active"
        survivors = [*served.worker_pids(), runtime.zygote_pid]
    finally:
        runtime.close()
    assert not any(map(pid_alive, survivors))
