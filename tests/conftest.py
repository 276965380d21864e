"""Test isolation and shared servers.

Every test runs with ``JFML_HOME`` and ``HOME`` in its own tmp dir and without any of the
user's JFrog/MLflow settings, so nothing reads or writes ``~/.frogml``, ``~/.jfrog``,
``~/.jfml`` or ``~/.mlflow``.

- ``jfml_server``: one reference server for the whole session (token ``test-token``, fresh
  SQLite, the default deployment runtime). Share it; create uniquely named entities.
- ``postgres_cluster``: a throw-away PostgreSQL (session; skips when the binaries are
  missing); ``postgres_cluster.create_database()`` returns the URL of a fresh database.
- ``server_factory(**options)``: fresh servers with ``start_server`` options (``tokens``,
  ``users``, ``no_auth``, ``runtime``, ``db_url``...), all stopped at teardown.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_CLEARED = (
    "JF_URL",
    "JF_ACCESS_TOKEN",
    "JF_USER",
    "JF_PASSWORD",
    "JF_ACCESS_TOKEN_FILE",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name in _CLEARED or name.startswith("JFML_"):
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "_home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("JFML_HOME", str(tmp_path / "_jfml_home"))
    monkeypatch.setenv("JFROG_CLI_HOME_DIR", str(home / ".jfrog"))


@pytest.fixture(scope="session")
def jfml_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A reference server shared by the session: ``.url``, ``.api_url``, ``.token``."""
    from jfml_tracking.server.embedded import start_server

    home = tmp_path_factory.mktemp("jfml_server")
    server = start_server(db_url=f"sqlite:///{home / 'server.db'}", tokens=("test-token",))
    yield server
    server.stop()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Call with ``start_server`` keyword options; each call gets a fresh database by default."""
    from jfml_tracking.server.embedded import start_server

    started: list[Any] = []

    def make(**options: Any) -> Any:
        if "db_url" not in options:
            options["db_url"] = f"sqlite:///{tmp_path / f'server-{len(started)}.db'}"
        server = start_server(**options)
        started.append(server)
        return server

    yield make
    for server in reversed(started):
        server.stop()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Any]:
    from tests.support.postgres import POSTGRES_MISSING, find_postgres_bin, start_postgres

    if find_postgres_bin() is None:
        pytest.skip(POSTGRES_MISSING)
    cluster = start_postgres()
    yield cluster
    cluster.stop()
