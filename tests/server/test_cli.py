from __future__ import annotations

import base64
import signal
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from jfml_tracking.cli import main
from tests.support.servers import start_server_process


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::"])
def test_no_auth_is_refused_off_loopback(host):
    result = CliRunner().invoke(main, ["server", "--no-auth", "--host", host, "--port", "0"])
    assert result.exit_code == 2
    assert "--no-auth is only allowed on a loopback address" in result.output
    assert host in result.output


def test_no_credentials_is_a_clear_usage_error():
    result = CliRunner().invoke(main, ["server", "--port", "0"])
    assert result.exit_code == 2
    assert "--token" in result.output and "--users-file" in result.output


def test_bad_users_file_names_the_line(tmp_path):
    users = tmp_path / "users"
    users.write_text("alice:ok\nbroken-line\n")
    result = CliRunner().invoke(main, ["server", "--port", "0", "--users-file", str(users)])
    assert result.exit_code == 2
    assert "line 2" in result.output


@pytest.mark.slow
def test_cli_server_env_tokens_users_file_default_db_and_clean_sigterm(tmp_path):
    users = tmp_path / "users"
    users.write_text("alice:wonderland\n")
    proc = start_server_process(
        "--users-file",
        str(users),
        tmp_path=tmp_path,
        token=None,
        env={"JFML_SERVER_TOKENS": "env-one, env-two"},
    )
    try:
        for token in ("env-one", "env-two"):
            answer = httpx.get(
                proc.api_url + "/v1/models", headers={"Authorization": f"Bearer {token}"}
            )
            assert answer.status_code == 200
        basic = "Basic " + base64.b64encode(b"alice:wonderland").decode()
        created = httpx.post(
            proc.api_url + "/v1/models", json={"name": "m"}, headers={"Authorization": basic}
        )
        assert created.json()["created_by"] == "alice"
    finally:
        code = proc.stop()
    assert code == 0
    output = proc.output()
    assert f"listening on {proc.url}" in output
    assert "SIGTERM" in output
    for secret in ("env-one", "env-two", "wonderland"):
        assert secret not in output
    # --db defaulted to a SQLite file under JFML_HOME (set per test by the root conftest).
    import os

    assert (Path(os.environ["JFML_HOME"]) / "server.db").exists()


@pytest.mark.slow
def test_sigint_stops_cleanly_and_a_restart_keeps_everything(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'keep.db'}"
    proc = start_server_process(tmp_path=tmp_path, db_url=db_url)
    headers = {"Authorization": "Bearer test-token"}
    model = httpx.post(proc.api_url + "/v1/models", json={"name": "kept"}, headers=headers).json()
    httpx.post(
        f"{proc.api_url}/v1/models/{model['id']}/versions", json={"version": "1"}, headers=headers
    )
    proc.proc.send_signal(signal.SIGINT)
    assert proc.proc.wait(20) == 0
    again = start_server_process(tmp_path=tmp_path, db_url=db_url)
    try:
        got = httpx.get(f"{again.api_url}/v1/models/{model['id']}", headers=headers).json()
        assert (got["name"], got["versions_count"], got["latest_version"]) == ("kept", 1, "1")
    finally:
        assert again.stop() == 0


@pytest.mark.slow
def test_a_port_in_use_is_a_clear_error(tmp_path, jfml_server):
    port = int(jfml_server.url.rsplit(":", 1)[1])
    proc = start_server_process(tmp_path=tmp_path, port=port, wait=False)
    assert proc.proc.wait(60) != 0
    assert f"cannot listen on 127.0.0.1:{port}" in proc.output()


def test_database_errors_never_show_the_password():
    url = "postgresql+psycopg://jfml:hunter2@127.0.0.1:1/jfml"
    result = CliRunner().invoke(main, ["server", "--port", "0", "--token", "t", "--db", url])
    assert result.exit_code == 1
    assert "cannot open database postgresql+psycopg://jfml:***@127.0.0.1:1/jfml" in result.output
    assert "hunter2" not in result.output
