"""``jfml doctor`` against real servers and real sockets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from jfml_tracking.cli import main

LONG_TOKEN = "doctor-token-abcdefghijklmnop-4321"


def run_doctor(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, ["doctor", *args], env=env)


def lines(result: Result) -> dict[str, str]:
    """check name -> its PASS/FAIL/SKIP status."""
    out = {}
    for line in result.output.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("PASS", "FAIL", "SKIP"):
            out[parts[1]] = parts[0]
    return out


def test_all_checks_pass_and_sources_are_shown(server_factory: Callable[..., Any]) -> None:
    server = server_factory(tokens=(LONG_TOKEN,))
    result = run_doctor({"JF_URL": server.url, "JF_ACCESS_TOKEN": LONG_TOKEN})
    assert result.exit_code == 0, result.output
    assert lines(result) == {
        "configuration": "PASS",
        "reachability": "PASS",
        "TLS": "SKIP",
        "auth": "PASS",
        "API": "PASS",
    }
    assert "JF_URL environment variable" in result.output
    assert "access token ...4321" in result.output
    assert LONG_TOKEN not in result.output and LONG_TOKEN[:-4] not in result.output
    assert "All checks passed." in result.output


def test_rejected_token_fails_auth_with_a_hint(jfml_server: Any) -> None:
    uri = "jfml+http://" + jfml_server.url.removeprefix("http://")
    result = run_doctor({"JF_ACCESS_TOKEN": LONG_TOKEN}, "--tracking-uri", uri)
    assert result.exit_code == 1
    assert lines(result)["auth"] == "FAIL" and lines(result)["API"] == "SKIP"
    assert "hint: The credentials come from JF_ACCESS_TOKEN environment variable" in result.output
    assert LONG_TOKEN not in result.output


def test_unreachable_server_fails_reachability(tmp_path: Path) -> None:
    from tests.support.fault_proxy import FaultProxy

    with FaultProxy("http://127.0.0.1:9") as proxy:
        url = proxy.url
        proxy.set_listening(False)  # a port we know is closed
        result = run_doctor({"JF_URL": url, "JF_ACCESS_TOKEN": LONG_TOKEN})
    assert result.exit_code == 1
    assert lines(result)["reachability"] == "FAIL"
    assert lines(result)["auth"] == "SKIP"
    assert "hint:" in result.output


def test_tls_to_a_plain_http_server_fails_tls(jfml_server: Any) -> None:
    uri = "jfml+https://" + jfml_server.url.removeprefix("http://")
    result = run_doctor({"JF_ACCESS_TOKEN": LONG_TOKEN, "MLFLOW_TRACKING_URI": uri})
    assert result.exit_code == 1
    assert lines(result)["TLS"] == "FAIL" and "MLFLOW_TRACKING_URI" in result.output


def test_tls_with_custom_ca_passes(
    jfml_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.client._tls import make_pki
    from tests.support.fault_proxy import FaultProxy

    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)  # untrusted = the default (certifi) bundle
    pki = make_pki(tmp_path)
    with FaultProxy(jfml_server.url, ssl_context=pki.server_context) as proxy:
        env = {"JF_URL": proxy.url, "JF_ACCESS_TOKEN": jfml_server.token}
        trusted = run_doctor({**env, "JFML_CA_BUNDLE": str(pki.ca_file)})
        untrusted = run_doctor(env)
    assert trusted.exit_code == 0, trusted.output
    assert (
        lines(trusted)["TLS"] == "PASS" and "JFML_CA_BUNDLE environment variable" in trusted.output
    )
    assert untrusted.exit_code == 1 and lines(untrusted)["TLS"] == "FAIL"
    assert "JFML_CA_BUNDLE" in untrusted.output


def test_no_api_at_the_url_fails_api(jfml_server: Any) -> None:
    env = {
        "JF_URL": jfml_server.url,
        "JF_ACCESS_TOKEN": jfml_server.token,
        "JFML_API_URL": jfml_server.url + "/not-the-api",
    }
    result = run_doctor(env)
    assert result.exit_code == 1
    assert lines(result)["API"] == "FAIL" and "JFML_API_URL" in result.output


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "no JFrog platform URL"),
        ({"JF_URL": "https://acme.jfrog.io"}, "no credentials"),
        (
            {"JF_URL": "https://acme.jfrog.io", "JF_ACCESS_TOKEN": "x", "JFML_TIMEOUT": "soon"},
            "JFML_TIMEOUT",
        ),
    ],
)
def test_configuration_errors_fail_first(env: dict[str, str], expected: str) -> None:
    result = run_doctor(env)
    assert result.exit_code == 1
    assert lines(result) == {"configuration": "FAIL"} and expected in result.output


def test_basic_password_is_never_shown(jfml_server: Any) -> None:
    env = {"JF_URL": jfml_server.url, "JF_USER": "joe", "JF_PASSWORD": "pa55word-secret"}
    result = run_doctor(env)
    assert "user 'joe', password ********" in result.output
    assert "pa55word-secret" not in result.output


def test_behind_a_proxy_the_api_request_is_the_reachability_check(jfml_server: Any) -> None:
    from tests.support.fault_proxy import FaultProxy

    with FaultProxy("http://127.0.0.1:9") as dead:
        dead.set_listening(False)
        env = {
            "JF_URL": jfml_server.url,
            "JF_ACCESS_TOKEN": jfml_server.token,
            "HTTP_PROXY": dead.url,
            "HTTPS_PROXY": dead.url,
            "NO_PROXY": "",
        }
        result = run_doctor(env)
    assert result.exit_code == 1
    assert lines(result)["reachability"] == "SKIP" and lines(result)["API"] == "FAIL"
    assert "proxy" in result.output
