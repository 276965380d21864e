"""Run the reference server inside this process, on a background thread.

Used by tests, by the demo and by anything that needs a real JFrog ML peer offline::

    with start_server(home=tmp_path) as server:
        auth = {"Authorization": f"Bearer {server.token}"}
        httpx.get(server.api_url + "/v1/models", headers=auth)
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from jfml_tracking.api import API_PREFIX
from jfml_tracking.server.db import default_db_url
from jfml_tracking.server.runtime import DeploymentRuntime

__all__ = ["ServerHandle", "bind_socket", "start_server"]

STARTUP_TIMEOUT_S = 30.0


class ServerHandle:
    """A running in-process server; stop it with ``stop()`` or a ``with`` block."""

    def __init__(
        self, *, url: str, token: str | None, db_url: str, server: Any, thread: threading.Thread
    ) -> None:
        self.url = url
        self.api_url = url + API_PREFIX
        self.token = token
        self.db_url = db_url
        self._server = server
        self._thread = thread

    def __repr__(self) -> str:  # never the token
        return f"ServerHandle(url={self.url!r})"

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 15.0) -> None:
        """Shut down (runs the app's shutdown: deployments stop); idempotent."""
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket; with ``port=0`` the OS picks a free port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto
    # says TCP; without it small responses stall ~40 ms on delayed ACKs.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url_for(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def start_server(
    *,
    db_url: str | None = None,
    home: str | os.PathLike[str] | None = None,
    tokens: Iterable[str] = ("test-token",),
    users: Mapping[str, str] | None = None,
    no_auth: bool = False,
    runtime: DeploymentRuntime | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    max_body_bytes: int | None = None,
) -> ServerHandle:
    """Start a server on ``host:port`` in a daemon thread; returns once it answers.

    ``db_url`` defaults to ``sqlite:///<home>/server.db`` (``home`` defaults to ``JFML_HOME``).
    ``users`` maps names to ``auth.hash_password`` hashes.
    """
    import uvicorn

    from jfml_tracking.server.app import DEFAULT_MAX_BODY_BYTES, create_app

    tokens = tuple(tokens)
    db_url = db_url or default_db_url(Path(home) if home else None)
    sock = bind_socket(host, port)
    url = url_for(host, sock.getsockname()[1])
    try:
        app = create_app(
            db_url=db_url,
            tokens=tokens,
            users=users,
            no_auth=no_auth,
            runtime=runtime,
            public_url=url,
            max_body_bytes=max_body_bytes or DEFAULT_MAX_BODY_BYTES,
        )
    except BaseException:
        sock.close()
        raise
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"jfml-server-{url}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive():
            sock.close()
            raise RuntimeError(f"jfml server on {url} failed to start; see the log above")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"jfml server on {url} did not start within {STARTUP_TIMEOUT_S}s")
        time.sleep(0.01)
    return ServerHandle(
        url=url, token=tokens[0] if tokens else None, db_url=db_url, server=server, thread=thread
    )
