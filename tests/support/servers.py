"""The real ``jfml server`` CLI as a subprocess, for tests of the command itself.

``start_server_process`` picks a free port, runs ``jfml server ...`` through the console
script's entry function (``jfml_tracking.cli:main``) and waits for ``/health`` with a deadline.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

__all__ = ["ServerProcess", "api_client", "free_port", "start_server_process"]

STARTUP_TIMEOUT_S = 60.0
_ENTRY = "import sys; from jfml_tracking.cli import main; sys.argv[0] = 'jfml'; main()"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """A ``jfml server`` subprocess; ``stop()`` sends SIGTERM, ``kill()`` SIGKILL."""

    def __init__(
        self, proc: subprocess.Popen[str], url: str, log_path: Path, token: str | None
    ) -> None:
        self.proc = proc
        self.url = url
        self.api_url = url + "/ml/api"
        self.token = token
        self.log_path = log_path

    def __repr__(self) -> str:
        return f"ServerProcess(url={self.url!r}, pid={self.proc.pid})"

    def output(self) -> str:
        """Everything the process wrote to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, wait for a clean exit; returns the exit code (kills after ``timeout``)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.wait()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server_process(
    *args: str,
    tmp_path: Path,
    token: str | None = "test-token",
    db_url: str | None = None,
    env: Mapping[str, str] | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    extra_args: Sequence[str] = (),
    wait: bool = True,
) -> ServerProcess:
    """Run ``jfml server --host HOST --port PORT [--db URL] [--token T] *args``.

    The subprocess inherits the (test-isolated) environment plus ``env``; its output goes to
    a log file in ``tmp_path``. With ``wait`` it returns once ``/health`` answers 200, and
    raises with the log tail if the process exits or the deadline passes first.
    """
    port = port or free_port(host)
    cmd = [sys.executable, "-c", _ENTRY, "server", "--host", host, "--port", str(port)]
    if db_url:
        cmd += ["--db", db_url]
    if token:
        cmd += ["--token", token]
    cmd += [*args, *extra_args]
    log_path = tmp_path / f"jfml-server-{port}.log"
    full_env = {**os.environ, **(env or {})}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=full_env, text=True)
    handle = ServerProcess(proc, f"http://{host}:{port}", log_path, token)
    if wait:
        wait_healthy(handle)
    return handle


def wait_healthy(handle: ServerProcess, timeout: float = STARTUP_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if handle.proc.poll() is not None:
            raise RuntimeError(
                f"jfml server exited with {handle.proc.returncode}:\n{handle.output()[-3000:]}"
            )
        try:
            if httpx.get(handle.url + "/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    handle.kill()
    raise RuntimeError(f"jfml server not healthy after {timeout}s:\n{handle.output()[-3000:]}")


def api_client(server: object, **headers: str) -> httpx.Client:
    """An ``httpx.Client`` on ``server.api_url`` with its bearer token (if it has one)."""
    token = getattr(server, "token", None)
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    base_url = getattr(server, "api_url")  # noqa: B009 - any handle type with .api_url
    return httpx.Client(base_url=base_url, headers={**auth, **headers}, timeout=30)
