"""Workers forked by the zygote (see ``_zygote``): the runtime's side of the protocol.

``Zygote`` owns the zygote process and routes its events to ``ForkedWorker`` handles, which
behave like ``WorkerProcess`` (launch, wait_ready, alive, ping, stop).
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from jfml_tracking.server.serving._process import (
    WorkerFailed,
    describe_exit,
    log_tail,
    ping_port,
    read_line,
)

__all__ = ["ForkedWorker", "Zygote", "zygote_supported"]

_ZYGOTE_MODULE = "jfml_tracking.server.serving._zygote"
_STOP_GRACE_SECONDS = 3.0


def zygote_supported() -> bool:
    """Forking workers needs Linux (``fork`` and ``PR_SET_PDEATHSIG``)."""
    return sys.platform.startswith("linux") and os.environ.get("JFML_SERVING_FORK", "1") != "0"


class _Child:
    """What the runtime knows of one forked worker, fed by the zygote's event stream."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.exit_code: int | None = None
        self.exited = threading.Event()
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()

    def feed(self, event: dict[str, Any]) -> None:
        if event.get("event") == "started":
            self.pid = int(event["pid"])
            return
        if event.get("event") == "exited":
            self.exit_code = event.get("code")
            self.exited.set()
        self.events.put(event)


class Zygote:
    """The zygote process; start it with :meth:`start`, then :meth:`spawn` workers."""

    def __init__(self, *, env: Mapping[str, str], workdir: Path) -> None:
        self._env = dict(env)
        self._workdir = workdir
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._children: dict[int, _Child] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout: float) -> None:
        """Start the zygote and wait until it has imported MLflow; raise WorkerFailed if not."""
        self._workdir.mkdir(parents=True, exist_ok=True)
        self._log = (self._workdir / "zygote.log").open("wb")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", _ZYGOTE_MODULE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=self._env,
            cwd=self._workdir,
            start_new_session=True,
        )
        assert self._proc.stdout is not None
        line = read_line(self._proc.stdout, deadline=time.monotonic() + timeout)
        if line is None or json.loads(line).get("event") != "preloaded":
            self.close()
            raise WorkerFailed(
                f"the serving zygote did not start: {log_tail(self._workdir / 'zygote.log')}"
            )
        threading.Thread(target=self._read_events, name="jfml-zygote-events", daemon=True).start()

    def spawn(self, request: dict[str, Any]) -> _Child:
        """Ask for one worker (``model_uri``, ``env``, ``log``, ``cwd``); returns its handle."""
        child = _Child()
        with self._lock:
            if not self.alive:
                raise WorkerFailed("the serving zygote is not running")
            request_id = next(self._ids)
            self._children[request_id] = child
            assert self._proc is not None and self._proc.stdin is not None
            self._proc.stdin.write((json.dumps({"id": request_id, **request}) + "\n").encode())
            self._proc.stdin.flush()
        return child

    def _read_events(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        for raw in proc.stdout:
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            child = self._children.get(event.get("id", -1))
            if child is not None:
                child.feed(event)
                if event.get("event") == "exited":
                    self._children.pop(event["id"], None)
        # The zygote is gone, and with it (PR_SET_PDEATHSIG) every worker it forked.
        for child in list(self._children.values()):
            child.feed({"event": "exited", "code": None})
        self._children.clear()

    def close(self) -> None:
        """Close its stdin (it stops its workers and exits); kill it if it lingers."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                proc.wait(timeout=_STOP_GRACE_SECONDS * 2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


class ForkedWorker:
    """One worker forked by ``zygote``; the same interface as ``WorkerProcess``."""

    def __init__(
        self, model_uri: str, *, env: Mapping[str, str], workdir: Path, zygote: Zygote
    ) -> None:
        self.model_uri = model_uri
        self._env = dict(env)
        self._workdir = workdir
        self._zygote = zygote
        self._child: _Child | None = None
        self.port: int | None = None

    @property
    def _log_path(self) -> Path:
        return self._workdir / "worker.log"

    def launch(self) -> None:
        self._workdir.mkdir(parents=True, exist_ok=True)
        self._log_path.write_bytes(b"")
        self.port = None
        self._child = self._zygote.spawn(
            {
                "model_uri": self.model_uri,
                "env": self._env,
                "log": str(self._log_path),
                "cwd": str(self._workdir),
            }
        )

    def wait_ready(self, timeout: float) -> int:
        child = self._child
        if child is None:
            raise WorkerFailed("the worker was stopped")
        try:
            event = child.events.get(timeout=timeout)
        except queue.Empty:
            self.stop()
            raise WorkerFailed(f"the model did not load within {timeout:.0f} s") from None
        if event.get("event") == "ready":
            self.port = int(event["port"])
            return self.port
        if event.get("event") == "failed":
            self.stop()
            raise WorkerFailed(str(event.get("reason") or "the worker failed to start"))
        raise WorkerFailed(self.exit_description())

    def alive(self) -> bool:
        return self._child is not None and not self._child.exited.is_set()

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child else None

    def ping(self, timeout: float = 2.0) -> bool:
        return self.port is not None and self.alive() and ping_port(self.port, timeout)

    def exit_description(self) -> str:
        code = self._child.exit_code if self._child else None
        return describe_exit(code, log_tail(self._log_path))

    def stop(self) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        deadline = time.monotonic() + _STOP_GRACE_SECONDS
        while child.pid is None and not child.exited.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)  # the zygote has not said the pid yet
        if child.pid is None or child.exited.is_set():
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(child.pid, sig)
            except ProcessLookupError:
                return
            if child.exited.wait(_STOP_GRACE_SECONDS):
                return
