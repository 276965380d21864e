"""A handle on one worker subprocess: launch, wait until it serves, check, stop."""

from __future__ import annotations

import http.client
import json
import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

__all__ = [
    "WorkerFailed",
    "WorkerProcess",
    "describe_exit",
    "log_tail",
    "ping_port",
    "read_line",
    "worker_environment",
]

_WORKER_MODULE = "jfml_tracking.server.serving._worker"
# Variables a worker must never see: credentials, and the settings that would point the
# worker's MLflow at the server's journal or at JFrog.
_SECRET_NAME = re.compile(r"TOKEN|PASSWORD|PASSWD|SECRET|API_KEY|CREDENTIAL|AUTH", re.IGNORECASE)
_DROPPED_PREFIXES = ("JF_", "JFML_", "JFROG_", "MLFLOW_TRACKING_", "MLFLOW_REGISTRY_")
_STOP_GRACE_SECONDS = 3.0


class WorkerFailed(Exception):
    """The worker could not start serving; ``str()`` is the reason shown to users."""


def worker_environment(
    base: Mapping[str, str], resources: Mapping[str, object] | None = None
) -> dict[str, str]:
    """The environment of a worker: ``base`` without secrets, plus thread limits for ``cpu``."""
    env = {
        key: value
        for key, value in base.items()
        if not _SECRET_NAME.search(key) and not key.startswith(_DROPPED_PREFIXES)
    }
    env["PYTHONUNBUFFERED"] = "1"
    resources = resources or {}
    threads = _threads_for_cpu(resources.get("cpu"))
    if threads is not None:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[name] = str(threads)
    if not resources.get("gpu"):
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def _threads_for_cpu(cpu: object) -> int | None:
    """``"2"`` -> 2, ``"500m"`` -> 1; None when unset or unreadable."""
    if cpu is None:
        return None
    text = str(cpu).strip()
    try:
        amount = float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError:
        return None
    return max(1, int(amount))


class WorkerProcess:
    """One ``_worker`` subprocess serving ``model_uri`` on 127.0.0.1."""

    def __init__(self, model_uri: str, *, env: Mapping[str, str], workdir: Path) -> None:
        self.model_uri = model_uri
        self._env = dict(env)
        self._workdir = workdir
        self._proc: subprocess.Popen[bytes] | None = None
        self._exit_code: int | None = None
        self.port: int | None = None

    @property
    def _log_path(self) -> Path:
        return self._workdir / "worker.log"

    def launch(self) -> None:
        """Start the process; returns at once (call ``wait_ready`` next)."""
        self._workdir.mkdir(parents=True, exist_ok=True)
        self.port = None
        self._exit_code = None
        with self._log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", _WORKER_MODULE, "--model-uri", self.model_uri],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=self._env,
                cwd=self._workdir,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float) -> int:
        """Block until the worker reports its port; raise ``WorkerFailed`` with the reason."""
        proc = self._require_proc()
        assert proc.stdout is not None
        line = read_line(proc.stdout, deadline=time.monotonic() + timeout)
        if line is None:
            if proc.poll() is None:
                self.stop()
                raise WorkerFailed(f"the model did not load within {timeout:.0f} s")
            raise WorkerFailed(self.exit_description())
        try:
            event = json.loads(line)
        except ValueError:
            self.stop()
            raise WorkerFailed(f"worker answered unexpectedly: {line[:200]!r}") from None
        if event.get("event") != "ready":
            self.stop()
            raise WorkerFailed(str(event.get("reason") or "the worker failed to start"))
        self.port = int(event["port"])
        return self.port

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def ping(self, timeout: float = 2.0) -> bool:
        """True when the worker answers ``GET /ping`` with 200 within ``timeout``."""
        return self.port is not None and self.alive() and ping_port(self.port, timeout)

    def exit_description(self) -> str:
        """Why the process is gone, for a ``failed`` reason."""
        code = self._proc.poll() if self._proc else self._exit_code
        return describe_exit(code, log_tail(self._log_path))

    def stop(self) -> None:
        """Terminate, then kill after a grace period; idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            _terminate(proc)
            self._exit_code = proc.returncode

    def _require_proc(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            raise WorkerFailed("the worker was stopped")
        return self._proc


def ping_port(port: int, timeout: float) -> bool:
    """True when 127.0.0.1:``port`` answers ``GET /ping`` with 200 within ``timeout``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/ping")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def describe_exit(code: int | None, tail: str) -> str:
    """``worker was killed by signal 9: <last log lines>`` and the like."""
    if code is None:
        head = "worker stopped"
    elif code < 0:
        head = f"worker was killed by signal {-code}"
    else:
        head = f"worker exited with code {code}"
    return f"{head}: {tail}" if tail else head


def log_tail(path: Path, lines: int = 4) -> str:
    """The last meaningful lines of a worker's log (warnings skipped), on one line."""
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 8000))
            text = log.read().decode("utf-8", "replace")
    except OSError:
        return ""
    kept = [line for line in text.splitlines() if line.strip() and "warn" not in line.lower()]
    return " | ".join(kept[-lines:])[-1500:]


def read_line(stream: IO[bytes], *, deadline: float) -> str | None:
    """One line from a pipe, or None at EOF or when ``deadline`` passes."""
    buf = b""
    fd = stream.fileno()
    while not buf.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], min(remaining, 0.5))
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            return None
        buf += chunk
    return buf.decode("utf-8", "replace").strip()


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        try:
            proc.terminate()
            proc.wait(timeout=_STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=_STOP_GRACE_SECONDS)
        except ProcessLookupError:
            pass
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            stream.close()
