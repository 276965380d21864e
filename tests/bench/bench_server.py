"""Reference server vs ``mlflow server``, side by side in one run.

Both run at the same time as subprocesses on 127.0.0.1 with a SQLite backend and one worker;
one client thread with keep-alive drives both, alternating blocks of 20 calls so that load
from anything else on the machine hits both sides alike. The equivalent operations:

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
BLOCK = 20
N = {"create": 200, "get": 400, "list": 200, "version": 200}
PEER = "mlflow server (sqlite, 1 worker)"
MLFLOW_API = "/api/2.0/mlflow"


Stats = tuple[float, float, float]  # requests/s, p50 ms, p99 ms
Call = Callable[[int], httpx.Response]


def _measure_pair(ours: tuple[Call, int], peer: tuple[Call, int], n: int) -> tuple[Stats, Stats]:
    """Time both servers in alternating blocks of ``BLOCK`` calls.

    Alternating keeps load drift from the rest of the machine fair to both sides; blocks, not
    single calls, because MLflow's SQLite commits fsync, and a write right after someone
    else's fsync waits on the filesystem journal, which would charge MLflow's fsyncs to us.
    Each side's throughput is its calls over the sum of its own latencies.
    """
    sides = (ours, peer)
    for i in range(5):  # warm-up
        for call, expect in sides:
            _check(call(10_000_000 + i), expect)
    latencies: tuple[list[float], list[float]] = ([], [])
    for first in range(0, n, BLOCK):
        for (call, expect), out in zip(sides, latencies, strict=True):
            for i in range(first, min(n, first + BLOCK)):
                t0 = time.perf_counter()
                answer = call(i)
                out.append(time.perf_counter() - t0)
                _check(answer, expect)
    return _stats(latencies[0]), _stats(latencies[1])


def _stats(latencies: list[float]) -> Stats:
    total = sum(latencies)
    return (
        len(latencies) / total,
        percentile(latencies, 50) * 1000,
        percentile(latencies, 99) * 1000,
    )


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


class Ours:
    """The reference server's side: its calls for each measured operation."""

    def __init__(self, api: httpx.Client) -> None:
        self.api = api
        self.run = uuid.uuid4().hex[:6]
        self.created: list[str] = []

    def create(self, i: int) -> httpx.Response:
        answer = self.api.post("/v1/models", json={"name": f"bench-{self.run}-{i}"})
        self.created.append(answer.json().get("id", ""))
        return answer

    def get(self, i: int) -> httpx.Response:
        return self.api.get(f"/v1/models/{self.created[i % 50]}")

    def list(self, i: int) -> httpx.Response:
        return self.api.get("/v1/models", params={"limit": 25, "offset": (i * 25) % SEEDED})

    def version(self, i: int) -> httpx.Response:
        return self.api.post(f"/v1/models/{self.created[0]}/versions", json={"version": f"v{i}"})


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


class Peer:
    """``mlflow server``'s side: the equivalent calls."""

    def __init__(self, api: httpx.Client) -> None:
        self.api = api
        self.run = uuid.uuid4().hex[:6]
        self.created: list[str] = []
        self.version_body: dict[str, str] = {}

    def create(self, i: int) -> httpx.Response:
        answer = self.api.post("/experiments/create", json={"name": f"bench-{self.run}-{i}"})
        self.created.append(answer.json().get("experiment_id", ""))
        return answer

    def get(self, i: int) -> httpx.Response:
        return self.api.get("/experiments/get", params={"experiment_id": self.created[i % 50]})

    def list(self, i: int) -> httpx.Response:
        return self.api.post("/experiments/search", json={"max_results": 25})

    def prepare_versions(self) -> None:
        name = f"rm-{self.run}"
        _check(self.api.post("/registered-models/create", json={"name": name}), 200)
        made = self.api.post("/runs/create", json={"experiment_id": self.created[0]})
        _check(made, 200)
        info = made.json()["run"]["info"]
        source = f"{info['artifact_uri']}/model"
        self.version_body = {"name": name, "source": source, "run_id": info["run_id"]}

    def version(self, i: int) -> httpx.Response:
        return self.api.post("/model-versions/create", json=self.version_body)


def _tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and all its descendants (Linux /proc)."""
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{current}/task").iterdir():
                stack += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total


def _wait_until_idle(pids: list[int], *, timeout: float = 90.0) -> None:
    """Poll until the servers' process trees use < 5% CPU over a second (bounded).

    ``mlflow server`` answers /health long before its worker and job-runner processes have
    finished starting; timing during that burst would charge it to whichever op runs first.
    """
    if not Path("/proc/self/stat").exists():
        return
    deadline = time.monotonic() + timeout
    last = sum(_tree_cpu_seconds(pid) for pid in pids)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = sum(_tree_cpu_seconds(pid) for pid in pids)
        if now - last < 0.05:
            return
        last = now


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


def _measure_all(ours: Ours, peer: Peer) -> dict[str, tuple[Stats, Stats]]:
    for side, expect in ((ours, 201), (peer, 200)):  # entities for get/version, untimed
        for i in range(50):
            _check(side.create(20_000_000 + i), expect)
    peer.prepare_versions()
    results = {}
    results["get"] = _measure_pair((ours.get, 200), (peer.get, 200), N["get"])
    results["list"] = _measure_pair((ours.list, 200), (peer.list, 200), N["list"])
    results["version"] = _measure_pair((ours.version, 201), (peer.version, 200), N["version"])
    results["create"] = _measure_pair((ours.create, 201), (peer.create, 200), N["create"])
    return results


def run() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="jfml-server-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        db_url = f"sqlite:///{tmp / 'jfml.db'}"
        _seed_ours(db_url)
        ours_proc = start_server_process("--log-level", "warning", tmp_path=tmp, db_url=db_url)
        try:
            peer_proc, peer_url = _start_mlflow(tmp)
            try:
                _seed_mlflow(tmp / "mlflow.db")
                _wait_until_idle([ours_proc.proc.pid, peer_proc.pid])
                auth = {"Authorization": "Bearer test-token"}
                with httpx.Client(base_url=ours_proc.api_url, headers=auth, timeout=60) as a, \
                     httpx.Client(base_url=peer_url + MLFLOW_API, timeout=60) as b:  # fmt: skip
                    results = _measure_all(Ours(a), Peer(b))
            finally:
                _stop(peer_proc)
        finally:
            ours_proc.stop()
    labels = {
        "create": "create model / experiment",
        "get": "get model / experiment",
        "list": "list 25 of 10,000 models / experiments",
        "version": "create model version",
    }
    rows = []
    for key, label in labels.items():
        ours, peer = results[key]
        rows.append(Row("server", f"{label} (req/s)", ours[0], PEER, peer[0], ">= 2.0x"))
        rows.append(Row("server", f"{label} p50", ours[1], PEER, peer[1], "", "ms"))
        rows.append(Row("server", f"{label} p99", ours[2], PEER, peer[2], "", "ms"))
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
