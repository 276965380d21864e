"""A reference server with the real serving runtime, shared by the deployment tests.

Worker processes load MLflow (seconds each), so the package starts one server and as few
deployments as it can; tests create uniquely named entities.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.deployments.helpers import TOKEN, ServingEnv, reset_mlflow


@pytest.fixture(scope="package")
def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServingEnv]:
    """One server (ProcessRuntime) for the package, and the environment that reaches it."""
    from jfml_tracking.server.embedded import start_server
    from jfml_tracking.server.serving import ProcessRuntime

    root = tmp_path_factory.mktemp("serving")
    runtime = ProcessRuntime(workdir=root / "workers")
    server = start_server(
        db_url=f"sqlite:///{root / 'server.db'}", tokens=(TOKEN,), runtime=runtime
    )
    env = ServingEnv(server, runtime, root / "jfml_home", "jfml+" + server.url)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(root))
        mp.setenv("JFROG_CLI_HOME_DIR", str(root / ".jfrog"))
        for key, value in env.env().items():
            mp.setenv(key, value)
        yield env
        reset_mlflow()
    server.stop()
    runtime.close()


@pytest.fixture
def jfml_env(serving: ServingEnv, monkeypatch: pytest.MonkeyPatch) -> ServingEnv:
    """Point MLflow at the shared server for one test (the autouse isolation cleared it)."""
    for key, value in serving.env().items():
        monkeypatch.setenv(key, value)
    return serving


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]
