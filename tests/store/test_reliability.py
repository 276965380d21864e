"""Reliability with real sockets: server down, flapping, kill -9, concurrent syncs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from jfml_tracking.cli import main as jfml
from jfml_tracking.sync import metric_log
from tests.store.conftest import jfml_uri_for, wait_until
from tests.support.fault_proxy import DropAfterForward, DropBeforeForward, FaultProxy, Respond

TRAIN = Path(__file__).with_name("_train.py")
pytestmark = pytest.mark.slow


def _env(uri: str, token: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(MLFLOW_TRACKING_URI=uri, JF_ACCESS_TOKEN=token, **extra)
    env["PYTHONPATH"] = os.pathsep.join([str(Path.cwd()), env.get("PYTHONPATH", "")])
    return env


def _train(uri: str, token: str, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TRAIN), *args],
        env=_env(uri, token, **extra),
        capture_output=True,
        text=True,
        timeout=240,
    )


def _runs(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def _points_in_journal(run_id: str) -> int:
    from jfml_tracking.sync.journal import list_journals

    total = 0
    for path in list_journals():
        with contextlib.closing(sqlite3.connect(path, timeout=5)) as conn:
            conn.execute("BEGIN")  # one snapshot of both tables, whatever a fold does meanwhile
            total += metric_log.count_points(conn, run_id, "loss")
            sql = "SELECT COUNT(*) FROM metrics WHERE run_uuid = ? AND key = 'loss'"
            total += conn.execute(sql, (run_id,)).fetchone()[0]
    return total


def _sync(uri: str, token: str) -> Any:
    return CliRunner().invoke(jfml, ["sync", "--uri", uri], env={"JF_ACCESS_TOKEN": token})


def _remote(api: Any, name: str) -> tuple[Any, list[Any], list[Any]]:
    models = [m for m in api.iter_models() if m.name == name]
    assert len(models) == 1, f"expected one model {name!r}, found {len(models)}"
    model = models[0]
    return (
        model,
        list(api.iter_experiments(model_id=model.id)),
        list(api.iter_model_versions(model.id)),
    )


def test_server_down_for_the_whole_run_then_sync_sends_everything_once(
    jfml_server: Any, api: Any, unique: str
) -> None:
    with FaultProxy(jfml_server.url) as proxy:
        proxy.set_listening(False)
        uri = jfml_uri_for(proxy)
        started = time.monotonic()
        done = _train(uri, jfml_server.token, f"down-{unique}", "3", "--model",
                      JFML_FLUSH_TIMEOUT="2")  # fmt: skip
        elapsed = time.monotonic() - started
        assert done.returncode == 0, done.stderr[-2000:]
        assert "Run `jfml sync` to send them" in done.stderr
        runs = _runs(done.stdout)
        assert len(runs) == 3
        assert elapsed < 60  # import + 3 fits + the 2 s flush; never the client's retry budget

        proxy.set_listening(True)
        result = _sync(uri, jfml_server.token)
        assert result.exit_code == 0, result.output
        result = _sync(uri, jfml_server.token)  # a replay sends nothing new
        assert result.exit_code == 0, result.output

    _model, experiments, versions = _remote(api, f"down-{unique}")
    assert sorted(e.name for e in experiments) == ["run-0", "run-1", "run-2"]
    assert all(e.status == "completed" for e in experiments)
    assert sorted(v.version for v in versions) == sorted(r["model_id"] for r in runs)


def test_flapping_server_gets_every_run_and_version_exactly_once(
    jfml_server: Any, api: Any, unique: str
) -> None:
    with FaultProxy(jfml_server.url) as proxy:
        faults = [Respond(503), Respond(429, retry_after="0"), DropBeforeForward(),
                  DropAfterForward()]  # fmt: skip
        proxy.script(faults * 6, when="POST")
        proxy.script([Respond(503), DropAfterForward()] * 3, when="GET")
        uri = jfml_uri_for(proxy)
        done = _train(uri, jfml_server.token, f"flap-{unique}", "20", "--model",
                      JFML_FLUSH_TIMEOUT="30")  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        runs = _runs(done.stdout)
        assert len(runs) == 20
        result = _sync(uri, jfml_server.token)  # whatever the exit flush left
        assert result.exit_code == 0, result.output
        assert proxy.count("POST") > 0

    _model, experiments, versions = _remote(api, f"flap-{unique}")
    assert sorted(e.name for e in experiments) == sorted(f"run-{i}" for i in range(20))
    assert sorted(v.version for v in versions) == sorted(r["model_id"] for r in runs)


def test_sync_keeps_going_while_a_busy_server_answers_429(
    jfml_server: Any, api: Any, unique: str
) -> None:
    # More consecutive 429s than one call's retry budget: `jfml sync` must not give up on a
    # server that answers, even before it has sent anything in this invocation.
    with FaultProxy(jfml_server.url) as proxy:
        uri = jfml_uri_for(proxy)
        done = _train(uri, jfml_server.token, f"busy-{unique}", "1", JFML_MODE="offline")
        assert done.returncode == 0, done.stderr[-2000:]
        proxy.script([Respond(429, retry_after="0")] * 7, when="POST")
        result = _sync(uri, jfml_server.token)
        assert result.exit_code == 0, result.output
        assert proxy.count("POST") >= 8

    _model, experiments, _versions = _remote(api, f"busy-{unique}")
    assert [e.name for e in experiments] == ["run-0"]


def test_kill_9_mid_run_keeps_the_journal_and_sync_sends_the_run_as_failed(
    jfml_server: Any, api: Any, unique: str
) -> None:
    import mlflow

    uri = jfml_uri_for(jfml_server)
    proc = subprocess.Popen(
        [sys.executable, str(TRAIN), f"killed-{unique}", "1", "--hang"],
        env=_env(uri, jfml_server.token, JFML_MODE="offline"),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("READY "), line
        run_id = line.split()[1]
        # The durability window: single points are committed within JFML_COMMIT_INTERVAL_MS
        # (50 ms). Wait for that, bounded, reading the journal as another process would.
        wait_until(lambda: _points_in_journal(run_id) == 50, timeout=2.0)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)

    # Everything logged before the kill is in the journal (committed before each call returned).
    client = mlflow.MlflowClient(tracking_uri=uri)
    os.environ["JFML_MODE"] = "offline"
    try:
        history = client.get_metric_history(run_id, "loss")
        assert [m.step for m in history] == list(range(50))
        assert client.get_run(run_id).info.status == "RUNNING"
    finally:
        del os.environ["JFML_MODE"]

    result = _sync(uri, jfml_server.token)
    assert result.exit_code == 0, result.output
    assert f"run {run_id}" in result.output
    _model, experiments, _versions = _remote(api, f"killed-{unique}")
    assert len(experiments) == 1
    assert experiments[0].status == "failed"
    assert "killed or crashed" in (experiments[0].description or "")
    assert experiments[0].metrics == {"loss": pytest.approx(1 / 50)}


def test_two_processes_syncing_one_journal_send_nothing_twice(
    jfml_server: Any, api: Any, unique: str
) -> None:
    uri = jfml_uri_for(jfml_server)
    done = _train(uri, jfml_server.token, f"twice-{unique}", "20", JFML_MODE="offline")
    assert done.returncode == 0, done.stderr[-2000:]
    command = [sys.executable, "-c", "from jfml_tracking.cli import main; main()", "sync",
               "--uri", uri]  # fmt: skip
    env = _env(uri, jfml_server.token)
    procs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for _ in range(2)]  # fmt: skip
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    _model, experiments, _versions = _remote(api, f"twice-{unique}")
    assert sorted(e.name for e in experiments) == sorted(f"run-{i}" for i in range(20))
