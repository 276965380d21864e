"""`jfml status`, `jfml sync --dry-run` and `jfml sync` on a journal written offline."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from jfml_tracking.cli import main as jfml
from tests.store.conftest import jfml_uri_for, reset_mlflow


def test_status_dry_run_and_sync(
    jfml_server: Any, api: Any, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    uri = jfml_uri_for(jfml_server)
    monkeypatch.setenv("JFML_MODE", "offline")
    monkeypatch.setenv("JF_ACCESS_TOKEN", jfml_server.token)
    reset_mlflow()
    try:
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(f"cli-{unique}")
        with mlflow.start_run() as run:
            mlflow.log_metric("m", 1.0)
    finally:
        reset_mlflow()
    monkeypatch.delenv("JFML_MODE")
    runner = CliRunner()

    status = runner.invoke(jfml, ["status", "--uri", uri])
    assert status.exit_code == 0, status.output
    assert "2 pending, 0 sent" in status.output
    assert "finish_run" in status.output and run.info.run_id in status.output

    dry = runner.invoke(jfml, ["sync", "--uri", uri, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would send finish_run" in " ".join(dry.output.split())
    assert api.find_model_by_name(f"cli-{unique}") is None

    sent = runner.invoke(jfml, ["sync", "--uri", uri])
    assert sent.exit_code == 0, sent.output
    assert "all sent" in sent.output
    assert api.find_model_by_name(f"cli-{unique}") is not None
    after = runner.invoke(jfml, ["status", "--uri", uri])
    assert "0 pending, 2 sent" in after.output and "Everything is in sync." in after.output

    # The token never lands in the journal or in any output.
    from jfml_tracking.sync.journal import list_journals

    for output in (status.output, dry.output, sent.output, after.output):
        assert jfml_server.token not in output
    for path in list_journals():
        for file in path.parent.glob("journal.db*"):
            assert jfml_server.token.encode() not in file.read_bytes()


def test_sync_against_a_dead_server_fails_clearly(
    monkeypatch: pytest.MonkeyPatch, unique: str
) -> None:
    import socket

    import mlflow

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        uri = f"jfml+http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("JFML_MODE", "offline")
    monkeypatch.setenv("JF_ACCESS_TOKEN", "t")
    monkeypatch.setenv("JFML_RETRY_MAX_ATTEMPTS", "1")
    reset_mlflow()
    try:
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(f"dead-{unique}")
        with mlflow.start_run():
            pass
    finally:
        reset_mlflow()
    monkeypatch.delenv("JFML_MODE")
    result = CliRunner().invoke(jfml, ["sync", "--uri", uri])
    assert result.exit_code == 1
    assert "still pending" in result.output and "jfml status" in result.output
    status = CliRunner().invoke(jfml, ["status", "--uri", uri])
    assert "last error: ConnectionFailed" in status.output
