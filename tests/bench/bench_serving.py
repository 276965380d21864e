"""Prediction serving: a deployment on ``jfml server`` vs ``mlflow models serve``, same model.

One scikit-learn model (Ridge, 4 features) is saved once. ``jfml server`` (a subprocess, its
default ProcessRuntime) deploys it with one replica; ``mlflow models serve --env-manager local``
(a subprocess, one worker) serves the same directory. The same payload (dataframe_split, 10
rows) goes to each:

- latency: one client thread with keep-alive, sequential requests; p50 and p99;
- throughput: 8 client threads, each with its own keep-alive connection, for a fixed count.

Rounds alternate between the two servers so that background noise hits both alike. Our path has
one more hop (the server's ``/serving`` proxy in front of the worker), which is the cost shown.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from _harness import Row, percentile  # noqa: E402

from tests.support.servers import free_port, start_server_process  # noqa: E402

TOKEN = "test-token"  # start_server_process's default


PEER = "mlflow models serve (1 worker)"
ROUNDS = 3
LATENCY_N = 150  # per round and server
THROUGHPUT_THREADS = 8
THROUGHPUT_N = 400  # per round and server
START_TIMEOUT = 180.0


def _save_model(root: Path) -> tuple[Path, bytes]:
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 4)), columns=["a", "b", "c", "d"])
    model = Ridge().fit(X, X["a"] * 2 - X["b"])
    path = root / "model"
    mlflow.sklearn.save_model(
        model, path, input_example=X.head(2), pip_requirements=["scikit-learn"]
    )
    body = json.dumps({"dataframe_split": X.head(10).to_dict(orient="split")}).encode()
    return path, body


def _wait(
    check: Callable[[], bool], what: str, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            if check():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready after {START_TIMEOUT:.0f} s")


def _deploy_on_jfml(root: Path, model_dir: Path) -> tuple[object, str]:
    server = start_server_process(tmp_path=root, db_url=f"sqlite:///{root / 'server.db'}")
    try:
        return server, _deploy(server.url, model_dir)
    except BaseException:
        server.stop()
        raise


def _deploy(url: str, model_dir: Path) -> str:
    from jfml_tracking.client import JFrogMLClient

    with JFrogMLClient(tracking_uri="jfml+" + url, token="test-token") as client:
        model = client.create_model(name="bench-serving")
        version = client.create_model_version(model.id, version="1", artifact_path=str(model_dir))
        deployment = client.create_deployment(
            name="bench", model_id=model.id, model_version_id=version.id, replicas=1
        )
        _wait(lambda: str(client.get_deployment(deployment.id).status) == "active", "deployment")
        endpoint = client.get_deployment(deployment.id).endpoint_url
    assert endpoint
    return endpoint


def _peer_env() -> dict[str, str]:
    # `mlflow models serve` execs `uvicorn` by name: the venv's bin must be on PATH.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {**os.environ, "PATH": path, "MLFLOW_TRACKING_URI": ""}


def _start_mlflow_serve(root: Path, model_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = open(root / "mlflow-serve.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model_dir),
         "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"],
        stdout=log, stderr=subprocess.STDOUT, env=_peer_env(),
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    _wait(lambda: httpx.get(base + "/ping", timeout=2).status_code == 200, "mlflow serve", proc)
    return proc, base + "/invocations"


def _latencies(url: str, body: bytes, n: int) -> list[float]:
    # /serving needs the API's credentials; the mlflow peer ignores the header, keeping it fair.
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    out = []
    with httpx.Client(timeout=30) as http:
        http.post(url, content=body, headers=headers).raise_for_status()  # warm-up
        for _ in range(n):
            start = time.perf_counter()
            http.post(url, content=body, headers=headers).raise_for_status()
            out.append(time.perf_counter() - start)
    return out


def _throughput(url: str, body: bytes, n: int, threads: int) -> float:
    # /serving needs the API's credentials; the mlflow peer ignores the header, keeping it fair.
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    per_thread = n // threads
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def work() -> None:
        with httpx.Client(timeout=60) as http:
            http.post(url, content=body, headers=headers)
            barrier.wait()
            try:
                for _ in range(per_thread):
                    http.post(url, content=body, headers=headers).raise_for_status()
            except BaseException as exc:
                errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    start = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return per_thread * threads / elapsed


def run() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="jfml-bench-serving-") as tmp:
        root = Path(tmp)
        model_dir, body = _save_model(root)
        server, ours_url = _deploy_on_jfml(root, model_dir)
        peer_proc = None
        try:
            peer_proc, peer_url = _start_mlflow_serve(root, model_dir)
            lat = {"ours": [], "peer": []}  # type: dict[str, list[float]]
            tput = {"ours": [], "peer": []}  # type: dict[str, list[float]]
            for _ in range(ROUNDS):
                for key, url in (("ours", ours_url), ("peer", peer_url)):
                    lat[key] += _latencies(url, body, LATENCY_N)
                    tput[key].append(_throughput(url, body, THROUGHPUT_N, THROUGHPUT_THREADS))
        finally:
            if peer_proc is not None:
                peer_proc.terminate()
                peer_proc.wait(30)
            server.stop()  # type: ignore[attr-defined]
    ms = 1000.0
    return [
        Row("serving", "predict p50, 10 rows (ms)", percentile(lat["ours"], 50) * ms, PEER,
            percentile(lat["peer"], 50) * ms, "", "ms"),
        Row("serving", "predict p99, 10 rows (ms)", percentile(lat["ours"], 99) * ms, PEER,
            percentile(lat["peer"], 99) * ms, "", "ms"),
        Row("serving", f"throughput, {THROUGHPUT_THREADS} clients (req/s)", max(tput["ours"]),
            PEER, max(tput["peer"]), "", "req/s"),
    ]  # fmt: skip


if __name__ == "__main__":
    for row in run():
        print(f"{row.measure}: jfml {row.ours:.2f} {row.unit} vs {row.peer:.2f} ({row.ratio:.2f}x)")
