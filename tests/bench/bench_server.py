"""Reference server vs ``mlflow server``, side by side in one run.

Both run as subprocesses on 127.0.0.1 with a SQLite backend and one worker; one client thread
with keep-alive drives each. The equivalent operations:

    create model            POST /v1/models                 vs  experiments/create
    get model               GET  /v1/models/{id}            vs  experiments/get
    list 25 of 10,000       GET  /v1/models?limit=25        vs  experiments/search max_results=25
    create version          POST /v1/models/{id}/versions   vs  model-versions/create

The 10,000 entries are seeded straight into each database before timing, not over HTTP.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from _harness import Row, percentile  # noqa: E402

from tests.support.servers import free_port, start_server_process  # noqa: E402

SEEDED = 10_000
N = {"create": 200, "get": 400, "list": 200, "version": 200}
PEER = "mlflow server (sqlite, 1 worker)"
MLFLOW_API = "/api/2.0/mlflow"


def _measure(
    call: Callable[[int], httpx.Response], n: int, expect: int
) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms) over ``n`` calls after 5 warm-up calls."""
    for i in range(5):
        _check(call(10_000_000 + i), expect)
    latencies = []
    start = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        _check(call(i), expect)
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    return n / elapsed, percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000


def _check(answer: httpx.Response, expect: int) -> None:
    if answer.status_code != expect:
        raise RuntimeError(f"{answer.request.url}: {answer.status_code} {answer.text[:300]}")


# --- ours -------------------------------------------------------------------------------------


def _seed_ours(db_url: str) -> None:
    from sqlalchemy import insert

    from jfml_tracking.server.app import create_schema
    from jfml_tracking.server.db import Database
    from jfml_tracking.server.tables import ModelRow, new_id, utcnow

    db = Database(db_url)
    create_schema(db)
    now = utcnow()
    rows = [
        {"id": new_id("mdl"), "name": f"seed-{i}", "tags": [], "created_at": now, "updated_at": now}
        for i in range(SEEDED)
    ]
    with db.write() as session:
        session.execute(insert(ModelRow), rows)
    db.dispose()


def _bench_ours(tmp: Path) -> dict[str, tuple[float, float, float]]:
    db_url = f"sqlite:///{tmp / 'jfml.db'}"
    _seed_ours(db_url)
    proc = start_server_process("--log-level", "warning", tmp_path=tmp, db_url=db_url)
    results = {}
    try:
        headers = {"Authorization": "Bearer test-token"}
        with httpx.Client(base_url=proc.api_url, headers=headers, timeout=30) as api:
            run = uuid.uuid4().hex[:6]
            created: list[str] = []

            def create(i: int) -> httpx.Response:
                answer = api.post("/v1/models", json={"name": f"bench-{run}-{i}"})
                created.append(answer.json().get("id", ""))
                return answer

            results["create"] = _measure(create, N["create"], 201)
            ids = created[:50]
            results["get"] = _measure(lambda i: api.get(f"/v1/models/{ids[i % 50]}"), N["get"], 200)
            results["list"] = _measure(
                lambda i: api.get("/v1/models", params={"limit": 25, "offset": (i * 25) % SEEDED}),
                N["list"],
                200,
            )
            target = ids[0]
            results["version"] = _measure(
                lambda i: api.post(f"/v1/models/{target}/versions", json={"version": f"v{i}"}),
                N["version"],
                201,
            )
    finally:
        proc.stop()
    return results


# --- mlflow server ----------------------------------------------------------------------------


def _start_mlflow(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    db = tmp / "mlflow.db"
    cmd = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{db}",
        "--default-artifact-root", (tmp / "artifacts").as_uri(),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    log = open(tmp / "mlflow.log", "wb")  # noqa: SIM115 - lives as long as the process
    env = {**os.environ, "MLFLOW_TRACKING_URI": ""}
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError((tmp / "mlflow.log").read_text(errors="replace")[-3000:])
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("mlflow server did not start within 180 s")


def _seed_mlflow(db: Path) -> None:
    now = int(time.time() * 1000)
    rows = [(f"seed-{i}", f"file:///tmp/seed-{i}", "active", now, now) for i in range(SEEDED)]
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, "
            "last_update_time) VALUES (?, ?, ?, ?, ?)",
            rows,
        )


def _bench_mlflow(tmp: Path) -> dict[str, tuple[float, float, float]]:
    proc, url = _start_mlflow(tmp)
    results = {}
    try:
        _seed_mlflow(tmp / "mlflow.db")
        with httpx.Client(base_url=url + MLFLOW_API, timeout=60) as api:
            run = uuid.uuid4().hex[:6]
            created: list[str] = []

            def create(i: int) -> httpx.Response:
                answer = api.post("/experiments/create", json={"name": f"bench-{run}-{i}"})
                created.append(answer.json().get("experiment_id", ""))
                return answer

            results["create"] = _measure(create, N["create"], 200)
            ids = created[:50]
            results["get"] = _measure(
                lambda i: api.get("/experiments/get", params={"experiment_id": ids[i % 50]}),
                N["get"],
                200,
            )
            results["list"] = _measure(
                lambda i: api.post("/experiments/search", json={"max_results": 25}), N["list"], 200
            )
            _check(api.post("/registered-models/create", json={"name": f"rm-{run}"}), 200)
            made = api.post("/runs/create", json={"experiment_id": ids[0]})
            _check(made, 200)
            info = made.json()["run"]["info"]
            body = {
                "name": f"rm-{run}",
                "source": f"{info['artifact_uri']}/model",
                "run_id": info["run_id"],
            }
            results["version"] = _measure(
                lambda i: api.post("/model-versions/create", json=body),
                N["version"],
                200,
            )
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    return results


def run() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="jfml-bench-") as ours_dir, \
         tempfile.TemporaryDirectory(prefix="mlflow-bench-") as peer_dir:  # fmt: skip
        ours = _bench_ours(Path(ours_dir))
        peer = _bench_mlflow(Path(peer_dir))
    labels = {
        "create": "create model / experiment",
        "get": "get model / experiment",
        "list": "list 25 of 10,000 models / experiments",
        "version": "create model version",
    }
    rows = []
    for key, label in labels.items():
        rows.append(Row("server", f"{label} (req/s)", ours[key][0], PEER, peer[key][0], ">= 2.0x"))
        rows.append(Row("server", f"{label} p50", ours[key][1], PEER, peer[key][1], "", "ms"))
        rows.append(Row("server", f"{label} p99", ours[key][2], PEER, peer[key][2], "", "ms"))
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
