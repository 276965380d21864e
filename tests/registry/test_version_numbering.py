"""Two journals (two machines, two JFML_HOMEs) registering the same model name on one server.

Each journal numbers its versions from 1. Our version 1 must never be mapped onto a JFrog
version made from another artifact: it is published under the next free number, and
``models:/NAME/1`` (deployments included) keeps meaning our artifact.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deployments.helpers import reset_mlflow
from tests.registry.conftest import registry_store, train_and_log

pytestmark = pytest.mark.slow


@pytest.fixture
def server(server_factory: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh server (deterministic version numbers) whose deployments go active at once."""
    from jfml_tracking.server.runtime import ImmediateRuntime

    handle = server_factory(runtime=ImmediateRuntime())
    monkeypatch.setenv("JF_ACCESS_TOKEN", handle.token)
    yield handle
    reset_mlflow()


def _use_home(monkeypatch: pytest.MonkeyPatch, home: Path, uri: str) -> None:
    """Switch this process to another journal, as another machine would have."""
    import mlflow

    reset_mlflow()
    monkeypatch.setenv("JFML_HOME", str(home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)


def _register(name: str, experiment: str, alpha: float) -> tuple[str, str]:
    """Train, register under ``name``, sync; the local version and its artifact location."""
    import mlflow

    mlflow.set_experiment(experiment)
    trained = train_and_log(alpha=alpha)
    version = mlflow.register_model(trained.info.model_uri, name)
    assert registry_store().flush(30) == 0
    return str(version.version), mlflow.get_logged_model(trained.info.model_id).artifact_location


def test_a_second_journal_never_adopts_the_existing_jfrog_version(
    server: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import mlflow
    from mlflow.deployments import get_deploy_client

    from jfml_tracking.client import JFrogMLClient
    from jfml_tracking.sync.registered_versions import JFROG_VERSION_TAG

    uri = "jfml+" + server.url
    _use_home(monkeypatch, tmp_path / "alice", uri)
    local_a, artifact_a = _register("churn", "alice", alpha=0.25)

    _use_home(monkeypatch, tmp_path / "bob", uri)
    with caplog.at_level(logging.WARNING, logger="jfml_tracking.registry"):
        local_b, artifact_b = _register("churn", "bob", alpha=4.0)
    assert (local_a, local_b) == ("1", "1")
    assert artifact_a != artifact_b

    with JFrogMLClient.from_tracking_uri(uri) as jfrog:
        model = jfrog.find_model_by_name("churn")
        by_number = {v.version: v for v in jfrog.iter_model_versions(model.id)}
    assert {n: v.artifact_path for n, v in by_number.items()} == {"1": artifact_a, "2": artifact_b}
    messages = [r.getMessage() for r in caplog.records]
    renumbered = [m for m in messages if "is version 2 on JFrog ML" in m]
    assert len(renumbered) == 1, caplog.text
    assert "'churn' version 1" in renumbered[0]
    assert mlflow.MlflowClient().get_model_version("churn", "1").tags[JFROG_VERSION_TAG] == "2"

    # Deploying our version 1 deploys our artifact (JFrog version "2"), not Alice's.
    deployed = get_deploy_client("jfml").create_deployment("churn-bob", "models:/churn/1")
    assert deployed["model_version_id"] == by_number["2"].id
    assert deployed["status"] == "active"

    # Alice's journal still maps her version 1 onto JFrog version "1".
    _use_home(monkeypatch, tmp_path / "alice", uri)
    deployed = get_deploy_client("jfml").create_deployment("churn-alice", "models:/churn/1")
    assert deployed["model_version_id"] == by_number["1"].id


def test_a_replayed_intent_finds_its_version_by_artifact(
    server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jfml_tracking.client import JFrogMLClient
    from jfml_tracking.mlflow_plugin._registry_sync import version_payload
    from jfml_tracking.sync import outbox
    from jfml_tracking.sync.handlers import SyncContext
    from jfml_tracking.sync.registered_versions import publish_registered_version

    uri = "jfml+" + server.url
    _use_home(monkeypatch, tmp_path / "alice", uri)
    _register("fraud", "alice", alpha=0.5)
    _use_home(monkeypatch, tmp_path / "bob", uri)
    _register("fraud", "bob", alpha=2.0)

    journal = registry_store().journal
    with journal.read() as conn:
        mapped = outbox.remote_id(conn, "registered_version", "fraud/1")
    intents = [i for i in outbox.pending(journal) if i.local_id == "fraud/1"]
    assert intents == []  # sent
    with journal.read() as conn:
        payload = version_payload(conn, "fraud", 1)
    replay = outbox.Intent(
        id=0,
        kind=outbox.PUBLISH_REGISTERED_VERSION,
        local_id="fraud/1",
        payload=payload,
        attempts=1,
    )
    with JFrogMLClient.from_tracking_uri(uri) as jfrog:
        remote_id, _ = publish_registered_version(SyncContext(journal, jfrog), replay)
        model = jfrog.find_model_by_name("fraud")
        numbers = sorted(v.version for v in jfrog.iter_model_versions(model.id))
    assert remote_id == mapped
    assert numbers == ["1", "2"]  # the replay created nothing


def test_an_unsent_version_is_not_resolved_to_the_server_version_of_the_same_number(
    server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    from jfml_tracking.client import JFrogMLClient
    from jfml_tracking.mlflow_plugin._registry_resolve import (
        UnresolvableModelURI,
        parse_models_uri,
        resolve_version,
    )
    from jfml_tracking.mlflow_plugin._registry_sync import journal_for

    uri = "jfml+" + server.url
    _use_home(monkeypatch, tmp_path / "alice", uri)
    _register("ltv", "alice", alpha=0.5)
    _use_home(monkeypatch, tmp_path / "bob", uri)
    monkeypatch.setenv("JFML_MODE", "offline")
    mlflow.set_experiment("bob")
    trained = train_and_log(alpha=3.0)
    assert mlflow.register_model(trained.info.model_uri, "ltv").version == 1
    assert registry_store().flush(0) > 0  # offline: still pending

    with (
        JFrogMLClient.from_tracking_uri(uri) as jfrog,
        pytest.raises(UnresolvableModelURI, match="not on JFrog ML"),
    ):
        resolve_version(
            parse_models_uri("models:/ltv/1"),
            client=jfrog,
            registry_uri=uri,
            journal_path=journal_for(uri),
            timeout=0,
        )


def test_a_tracking_only_process_publishes_registered_versions_by_artifact() -> None:
    # A process that never opened the registry store (e.g. training after an offline
    # registration) must still use the artifact-aware publisher, not match by number alone.
    import subprocess
    import sys

    code = (
        "import sys, jfml_tracking.sync.handlers as h\n"
        "from jfml_tracking.sync.registered_versions import publish_registered_version as p\n"
        "assert 'jfml_tracking.mlflow_plugin._registry_sync' not in sys.modules\n"
        "assert h.HANDLERS['publish_registered_version'] is p, h.HANDLERS\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
