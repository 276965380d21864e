"""One serving worker: load an MLflow pyfunc model and answer MLflow's scoring protocol.

Run by the runtime as ``python -m jfml_tracking.server.serving._worker --model-uri URI``. The
worker binds 127.0.0.1 on an ephemeral port, then writes exactly one JSON line to stdout:
``{"event": "ready", "port": N}`` or ``{"event": "failed", "reason": "..."}`` (and exits).
It exits when its stdin closes, so a worker never outlives the server that started it.

The HTTP side is MLflow's own scoring server (``/invocations``, ``/ping``), so payloads
(dataframe_split, dataframe_records, instances, inputs, CSV) behave exactly as with
``mlflow models serve``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

READY = "ready"
FAILED = "failed"
_REASON_LIMIT = 2000


def _emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def _exit_when_parent_goes() -> None:
    """Read stdin until EOF (the parent closed it or died), then exit at once."""

    def watch() -> None:
        try:
            while sys.stdin.buffer.read(1024):
                pass
        finally:
            os._exit(0)

    threading.Thread(target=watch, name="jfml-parent-watch", daemon=True).start()


def _load(model_uri: str) -> Any:
    from mlflow.pyfunc.scoring_server import load_model_with_mlflow_config

    return load_model_with_mlflow_config(model_uri)


def _describe_failure(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    # MLflow appends long tracebacks and hints; the first lines carry the cause.
    return "\n".join(text.splitlines()[:6])[:_REASON_LIMIT]


def serve(model_uri: str, emit: Callable[[dict[str, Any]], None]) -> int:
    """Load ``model_uri``, announce the port (or the failure) through ``emit``, serve forever."""
    try:
        model = _load(model_uri)
        from mlflow.pyfunc import scoring_server

        app = scoring_server.init(model)
        import uvicorn
    except BaseException as exc:  # anything (incl. SystemExit from imports) is a load failure
        emit({"event": FAILED, "reason": _describe_failure(exc)})
        return 3

    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on accepted sockets whose proto says
    # TCP; without it every small answer waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    # Connections that arrive before uvicorn starts accepting wait in the listen backlog.
    emit({"event": READY, "port": sock.getsockname()[1]})
    server.run(sockets=[sock])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jfml-serving-worker")
    parser.add_argument("--model-uri", required=True)
    args = parser.parse_args(argv)
    _exit_when_parent_goes()
    return serve(args.model_uri, _emit)


if __name__ == "__main__":
    sys.exit(main())
