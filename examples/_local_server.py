"""Shared by the examples: use the JFrog ML server you configured, or start a local one.

With ``JF_URL`` set (and ``JF_ACCESS_TOKEN`` or another credential), examples talk to that
server. Without it they start the reference server (``jfml server``) in-process, keeping its
data in ``$JFML_HOME/demo`` (default ``~/.jfml/demo``) so you can look at it afterwards.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DEMO_DIR_NAME = "demo"


def demo_dir() -> Path:
    home = Path(os.environ.get("JFML_HOME") or Path.home() / ".jfml")
    path = home / DEMO_DIR_NAME
    path.mkdir(parents=True, exist_ok=True)
    return path


def _demo_token(directory: Path) -> Path:
    """A token kept in a private file; examples never print it."""
    path = directory / "token"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path


@contextmanager
def jfrog_ml() -> Iterator[str]:
    """Yield the MLflow tracking URI to use; start a local server when ``JF_URL`` is unset."""
    import mlflow

    if os.environ.get("JF_URL"):
        uri = os.environ.get("MLFLOW_TRACKING_URI") or "jfml:"
        os.environ["MLFLOW_TRACKING_URI"] = uri
        mlflow.set_tracking_uri(uri)
        yield uri
        return
    directory = demo_dir()
    token_file = _demo_token(directory)
    server = _start_on_previous_port(
        directory, db_url=f"sqlite:///{directory / 'server.db'}", tokens=(token_file.read_text(),)
    )
    # Environment, not arguments: child processes (DDP ranks, deployment workers) inherit it.
    os.environ["JF_URL"] = server.url
    os.environ["JF_ACCESS_TOKEN_FILE"] = str(token_file)
    os.environ["MLFLOW_TRACKING_URI"] = "jfml+http://" + server.url.split("://", 1)[1]
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    print(f"Started a local JFrog ML server at {server.url} (data in {directory})")
    try:
        yield os.environ["MLFLOW_TRACKING_URI"]
    finally:
        server.stop()


def _start_on_previous_port(directory: Path, **options: Any) -> Any:
    """Start the server on the port of the last run when it is free, else on a new one.

    The local journal is kept per server URL, so the same port across runs means the same
    journal: registered model versions keep counting up instead of starting again at 1.
    """
    from jfml_tracking.server.embedded import start_server

    port_file = directory / "port"
    previous = int(port_file.read_text()) if port_file.exists() else 0
    try:
        server = start_server(port=previous, **options)
    except OSError:  # taken by something else since
        server = start_server(port=0, **options)
    port_file.write_text(server.url.rsplit(":", 1)[1])
    return server


def flush(timeout: float = 30.0) -> int:
    """Wait until the tracking store has sent everything to JFrog ML; the number still pending."""
    import mlflow

    store = mlflow.MlflowClient()._tracking_client.store
    return store.flush(timeout) if hasattr(store, "flush") else 0
