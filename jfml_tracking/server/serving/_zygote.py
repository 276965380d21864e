"""The zygote: one process with MLflow's scorer already imported that forks serving workers.

Importing MLflow takes seconds; a worker forked from a process that did it once only loads its
model. Linux only (``fork`` plus ``PR_SET_PDEATHSIG``); elsewhere workers are plain subprocesses.

Protocol (JSON lines). On stdout, first ``{"event": "preloaded"}``. Then for each request read
from stdin, ``{"id", "model_uri", "env", "log", "cwd"}``, it forks a worker and writes
``{"id", "event": "started", "pid"}``, then the worker's ``ready`` (with ``port``) or ``failed``
(with ``reason``), and finally ``{"id", "event": "exited", "code"}`` (negative: the signal).
When stdin closes (the server is gone) it stops every worker and exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from typing import Any

_out_lock = threading.Lock()
_children: dict[int, int] = {}  # pid -> request id
_PR_SET_PDEATHSIG = 1


def _write(event: dict[str, Any]) -> None:
    with _out_lock:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()


def _preload() -> None:
    import mlflow.pyfunc
    import mlflow.pyfunc.scoring_server  # noqa: F401
    import uvicorn  # noqa: F401


def _die_with_parent() -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() == 1:  # the zygote died between fork and prctl
        os._exit(1)


def _child(request: dict[str, Any], event_fd: int) -> None:
    """In the forked worker: own session, own stdio and environment, then serve."""
    code = 1
    try:
        os.setsid()
        _die_with_parent()
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        # Fresh stream objects: the inherited ones may hold locks of the zygote's threads.
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        _limit_threads(request["env"].get("OMP_NUM_THREADS"))
        from jfml_tracking.server.serving._worker import serve

        def emit(event: dict[str, Any]) -> None:
            os.write(event_fd, (json.dumps(event) + "\n").encode())
            os.close(event_fd)

        code = serve(request["model_uri"], emit)
    except BaseException as exc:  # never return into the zygote's loop
        with contextlib.suppress(OSError):
            os.write(event_fd, json.dumps({"event": "failed", "reason": repr(exc)}).encode())
    finally:
        os._exit(code)


def _limit_threads(value: str | None) -> None:
    """BLAS pools were sized when the zygote imported numpy; resize them to the cpu limit."""
    if not value:
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(int(value))


def _relay(request_id: int, pid: int, event_fd: int) -> None:
    """Pass the worker's ready/failed line on, then report how it ended."""
    buffer = b""
    while not buffer.endswith(b"\n"):
        chunk = os.read(event_fd, 65536)
        if not chunk:
            break
        buffer += chunk
    os.close(event_fd)
    if buffer.strip():
        with contextlib.suppress(ValueError):
            _write({"id": request_id, **json.loads(buffer)})
    _, status = os.waitpid(pid, 0)
    _children.pop(pid, None)
    _write({"id": request_id, "event": "exited", "code": os.waitstatus_to_exitcode(status)})


def _fork(request: dict[str, Any]) -> None:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(request, write_fd)
    os.close(write_fd)
    _children[pid] = request["id"]
    _write({"id": request["id"], "event": "started", "pid": pid})
    threading.Thread(target=_relay, args=(request["id"], pid, read_fd), daemon=True).start()


def _stop_children(grace: float = 3.0) -> None:
    pids = list(_children)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _children and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in list(_children):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def main() -> int:
    _preload()
    _write({"event": "preloaded"})
    for line in sys.stdin:
        if line.strip():
            _fork(json.loads(line))
    _stop_children()
    return 0


if __name__ == "__main__":
    sys.exit(main())
