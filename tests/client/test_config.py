"""The configuration resolution matrix: URI forms, environment, config files, precedence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jfml_tracking.config import (
    BasicAuth,
    BearerAuth,
    ConfigurationError,
    TokenFileAuth,
    parse_tracking_uri,
    resolve_settings,
)

TOKEN = "tok-from-env-0123456789"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An environment with an empty home: no config files unless a test writes them."""
    home = tmp_path / "home"
    home.mkdir()
    return {"HOME": str(home)}


def write_frogml(env: dict[str, str], content: Any) -> Path:
    path = Path(env["HOME"]) / ".frogml" / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def write_jfrog_cli(env: dict[str, str], content: Any, *, directory: Path | None = None) -> Path:
    base = directory or Path(env["HOME"]) / ".jfrog"
    path = base / "jfrog-cli.conf.v6"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def cli_server(server_id: str, url: str, *, default: bool = False, **creds: str) -> dict[str, Any]:
    return {
        "serverId": server_id,
        "url": url,
        "artifactoryUrl": url.rstrip("/") + "/artifactory/",
        "isDefault": default,
        **creds,
    }


# --- URI forms ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "api_url"),
    [
        ("jfml://acme", "https://acme.jfrog.io/ml/api"),
        ("jfml://ACME/", "https://acme.jfrog.io/ml/api"),
        ("jfml://ml.example.com", "https://ml.example.com/ml/api"),
        ("jfml+https://ml.example.com", "https://ml.example.com/ml/api"),
        ("jfml+https://ml.example.com:8443/jfrog", "https://ml.example.com:8443/jfrog/ml/api"),
        ("jfml+https://acme.jfrog.io/artifactory/", "https://acme.jfrog.io/ml/api"),
        ("jfml+https://acme.jfrog.io/ml/api", "https://acme.jfrog.io/ml/api"),
        ("jfml+http://127.0.0.1:5000", "http://127.0.0.1:5000/ml/api"),
        ("jfml+http://localhost:5000/", "http://localhost:5000/ml/api"),
        ("jfml+http://[::1]:5000", "http://[::1]:5000/ml/api"),
    ],
)
def test_uri_forms(uri: str, api_url: str, env: dict[str, str]) -> None:
    settings = resolve_settings(uri, env={**env, "JF_ACCESS_TOKEN": TOKEN})
    assert settings.api_url == api_url
    assert settings.sources["platform_url"] == f"tracking URI {uri!r}"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("http://acme.jfrog.io", "unsupported tracking URI"),
        ("jfml://acme/extra", "not a server name"),
        ("jfml://acme:8080", "not a server name"),
        ("jfml:acme", "malformed"),
        ("jfml+https://", "has no host"),
        ("jfml+https://host:99999", "invalid port"),
        ("jfml+https://host/?x=1", "query"),
        ("jfml+http://ml.example.com", "JFML_ALLOW_INSECURE_HTTP=true"),
    ],
)
def test_bad_uris_say_what_is_wrong_and_the_fix(
    uri: str, expected: str, env: dict[str, str]
) -> None:
    with pytest.raises(ConfigurationError, match="Fix:") as info:
        resolve_settings(uri, env={**env, "JF_ACCESS_TOKEN": TOKEN})
    assert expected in str(info.value)


@pytest.mark.parametrize(
    "uri", ["jfml://joe:hunter2secret@acme", "jfml+https://joe:hunter2secret@ml.example.com"]
)
def test_credentials_in_the_uri_are_refused_without_echoing_them(uri: str) -> None:
    with pytest.raises(ConfigurationError, match="JF_ACCESS_TOKEN") as info:
        parse_tracking_uri(uri)
    assert "hunter2secret" not in str(info.value)


def test_insecure_http_is_allowed_when_asked(env: dict[str, str]) -> None:
    settings = resolve_settings(
        "jfml+http://ml.internal:8080",
        env={**env, "JF_ACCESS_TOKEN": TOKEN, "JFML_ALLOW_INSECURE_HTTP": "true"},
    )
    assert settings.api_url == "http://ml.internal:8080/ml/api"


@pytest.mark.parametrize(
    "jf_url",
    [
        "https://acme.jfrog.io",
        "https://acme.jfrog.io/",
        "https://acme.jfrog.io/artifactory",
        "https://acme.jfrog.io/artifactory/",
        "https://acme.jfrog.io/ml",
        "https://acme.jfrog.io/ml/api/",
    ],
)
def test_bare_uri_takes_jf_url_with_or_without_suffixes(jf_url: str, env: dict[str, str]) -> None:
    settings = resolve_settings("jfml:", env={**env, "JF_URL": jf_url, "JF_ACCESS_TOKEN": TOKEN})
    assert settings.platform_url == "https://acme.jfrog.io"
    assert settings.api_url == "https://acme.jfrog.io/ml/api"
    assert settings.sources["platform_url"] == "JF_URL environment variable"


def test_jfml_api_url_overrides_the_api_base(env: dict[str, str]) -> None:
    settings = resolve_settings(
        "jfml://acme",
        env={**env, "JF_ACCESS_TOKEN": TOKEN, "JFML_API_URL": "https://gw.example.com/v2/"},
    )
    assert settings.api_url == "https://gw.example.com/v2"
    assert settings.platform_url == "https://acme.jfrog.io"
    assert settings.sources["api_url"] == "JFML_API_URL environment variable"


def test_explicit_platform_url_beats_uri_and_jf_url(env: dict[str, str]) -> None:
    settings = resolve_settings(
        "jfml://acme",
        platform_url="https://other.example.com/artifactory",
        env={**env, "JF_URL": "https://third.jfrog.io", "JF_ACCESS_TOKEN": TOKEN},
    )
    assert settings.platform_url == "https://other.example.com"


def test_no_platform_url_anywhere_is_a_clear_error(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="no JFrog platform URL") as info:
        resolve_settings("jfml:", env={**env, "JF_ACCESS_TOKEN": TOKEN})
    assert "JF_URL" in str(info.value) and "jfml://<server>" in str(info.value)


# --- credentials precedence ------------------------------------------------------------------


def test_explicit_token_beats_everything(env: dict[str, str]) -> None:
    settings = resolve_settings(
        "jfml://acme", token="explicit-token-xyz", env={**env, "JF_ACCESS_TOKEN": TOKEN}
    )
    assert isinstance(settings.auth, BearerAuth)
    assert settings.auth.token.get_secret_value() == "explicit-token-xyz"
    assert settings.credential_source == "explicit token argument"


def test_explicit_user_and_password_make_basic_auth(env: dict[str, str]) -> None:
    settings = resolve_settings("jfml://acme", user="joe", password="pw-123456", env=env)
    assert isinstance(settings.auth, BasicAuth) and settings.user == "joe"


def test_env_token_beats_env_user_password(env: dict[str, str]) -> None:
    settings = resolve_settings(
        "jfml://acme", env={**env, "JF_ACCESS_TOKEN": TOKEN, "JF_USER": "joe", "JF_PASSWORD": "pw"}
    )
    assert settings.credential_source == "JF_ACCESS_TOKEN environment variable"


def test_env_user_password_is_basic_auth(env: dict[str, str]) -> None:
    settings = resolve_settings(
        "jfml://acme", env={**env, "JF_USER": "joe", "JF_PASSWORD": "pw-123456"}
    )
    assert isinstance(settings.auth, BasicAuth)
    assert settings.credential_source == "JF_USER/JF_PASSWORD environment variables"


def test_half_a_user_password_pair_is_an_error(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="JF_PASSWORD"):
        resolve_settings("jfml://acme", env={**env, "JF_USER": "joe"})


def test_env_token_beats_token_file(env: dict[str, str], tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("file-token-0123456789\n")
    settings = resolve_settings(
        "jfml://acme",
        env={**env, "JF_ACCESS_TOKEN": TOKEN, "JF_ACCESS_TOKEN_FILE": str(token_file)},
    )
    assert settings.credential_source == "JF_ACCESS_TOKEN environment variable"
    settings = resolve_settings("jfml://acme", env={**env, "JF_ACCESS_TOKEN_FILE": str(token_file)})
    assert isinstance(settings.auth, TokenFileAuth)
    assert settings.auth.token.get_secret_value() == "file-token-0123456789"
    assert str(token_file) in settings.credential_source


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "cannot read"), ("", "is empty"), ("a\nb\n", "more than one line")],
)
def test_bad_token_file_names_the_file(
    env: dict[str, str], tmp_path: Path, content: str | None, problem: str
) -> None:
    token_file = tmp_path / "token"
    if content is not None:
        token_file.write_text(content)
    with pytest.raises(ConfigurationError, match=problem) as info:
        resolve_settings("jfml://acme", env={**env, "JF_ACCESS_TOKEN_FILE": str(token_file)})
    assert str(token_file) in str(info.value) and "JF_ACCESS_TOKEN_FILE" in str(info.value)


def test_token_file_beats_frogml_config(env: dict[str, str], tmp_path: Path) -> None:
    write_frogml(
        env,
        {
            "servers": [
                {
                    "artifactory_url": "https://acme.jfrog.io/artifactory",
                    "access_token": "frogml-token-0123",
                }
            ]
        },
    )
    token_file = tmp_path / "token"
    token_file.write_text("file-token-0123456789")
    settings = resolve_settings("jfml://acme", env={**env, "JF_ACCESS_TOKEN_FILE": str(token_file)})
    assert isinstance(settings.auth, TokenFileAuth)


def test_frogml_config_gives_url_and_token(env: dict[str, str]) -> None:
    path = write_frogml(
        env,
        {
            "servers": [
                {
                    "artifactory_url": "https://acme.jfrog.io/artifactory",
                    "access_token": "frogml-token-0123",
                }
            ]
        },
    )
    settings = resolve_settings("jfml:", env=env)
    assert settings.api_url == "https://acme.jfrog.io/ml/api"
    assert isinstance(settings.auth, BearerAuth)
    assert settings.auth.token.get_secret_value() == "frogml-token-0123"
    assert settings.credential_source == f"frogml config {path}"


def test_frogml_config_beats_jfrog_cli_config(env: dict[str, str]) -> None:
    write_frogml(
        env,
        {
            "servers": [
                {
                    "artifactory_url": "https://acme.jfrog.io/artifactory",
                    "access_token": "frogml-token-0123",
                }
            ]
        },
    )
    write_jfrog_cli(
        env,
        {
            "servers": [
                cli_server(
                    "acme", "https://acme.jfrog.io/", default=True, accessToken="cli-token-0123"
                )
            ],
            "version": "6",
        },
    )
    settings = resolve_settings("jfml://acme", env=env)
    assert settings.credential_source.startswith("frogml config")


def test_jfrog_cli_default_server(env: dict[str, str]) -> None:
    path = write_jfrog_cli(
        env,
        {
            "servers": [
                cli_server("other", "https://other.jfrog.io/", accessToken="other-token-0123"),
                cli_server(
                    "acme", "https://acme.jfrog.io/", default=True, user="joe", password="pw-1234"
                ),
            ],
            "version": "6",
        },
    )
    settings = resolve_settings("jfml:", env=env)
    assert settings.platform_url == "https://acme.jfrog.io"
    assert isinstance(settings.auth, BasicAuth) and settings.user == "joe"
    assert settings.credential_source == f"JFrog CLI config {path} (server 'acme')"


def test_jfrog_cli_home_dir_is_honoured(env: dict[str, str], tmp_path: Path) -> None:
    directory = tmp_path / "cli-home"
    write_jfrog_cli(
        env,
        {"servers": [cli_server("acme", "https://acme.jfrog.io/", accessToken="cli-token-0123")]},
        directory=directory,
    )
    settings = resolve_settings("jfml:", env={**env, "JFROG_CLI_HOME_DIR": str(directory)})
    assert settings.platform_url == "https://acme.jfrog.io"  # a lone server is the default


def test_jfrog_cli_non_default_server_matching_the_uri_is_used(env: dict[str, str]) -> None:
    write_jfrog_cli(
        env,
        {
            "servers": [
                cli_server(
                    "acme", "https://acme.jfrog.io/", default=True, accessToken="acme-token-0123"
                ),
                cli_server("beta", "https://beta.jfrog.io/", accessToken="beta-token-0123"),
            ]
        },
    )
    settings = resolve_settings("jfml://beta", env=env)
    assert "server 'beta'" in settings.credential_source


def test_config_file_token_is_never_sent_to_another_server(env: dict[str, str]) -> None:
    write_frogml(
        env,
        {
            "servers": [
                {
                    "artifactory_url": "https://acme.jfrog.io/artifactory",
                    "access_token": "frogml-token-0123",
                }
            ]
        },
    )
    with pytest.raises(
        ConfigurationError, match=r"no credentials for https://evil\.example\.com"
    ) as info:
        resolve_settings("jfml+https://evil.example.com", env=env)
    assert "is for https://acme.jfrog.io" in str(info.value)


def test_no_credentials_is_a_clear_error(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="no credentials") as info:
        resolve_settings("jfml://acme", env=env)
    assert "JF_ACCESS_TOKEN" in str(info.value) and "Fix:" in str(info.value)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"servers": [{"artifactory_url": ', "not valid JSON (line 1"),
        ("[]", "must hold a JSON object"),
        ({"servers": []}, "no 'servers' list"),
        ({"servers": [{"access_token": "x"}]}, "no 'artifactory_url'"),
        ({"servers": [{"artifactory_url": 42}]}, "must be a string"),
        ({"servers": [{"artifactory_url": "ftp://acme"}]}, "not a valid http(s) URL"),
    ],
)
def test_malformed_frogml_config_names_the_file(
    env: dict[str, str], content: Any, problem: str
) -> None:
    path = write_frogml(env, content)
    with pytest.raises(ConfigurationError) as info:
        resolve_settings("jfml:", env=env)
    assert problem in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not valid JSON"),
        ({"servers": "acme"}, "must be a list of objects"),
        (
            {"servers": [{"serverId": "a", "url": "https://a.jfrog.io", "accessToken": 5}]},
            "must be a string",
        ),
    ],
)
def test_malformed_jfrog_cli_config_names_the_file(
    env: dict[str, str], content: Any, problem: str
) -> None:
    path = write_jfrog_cli(env, content)
    with pytest.raises(ConfigurationError) as info:
        resolve_settings("jfml:", env=env)
    assert problem in str(info.value) and str(path) in str(info.value)


def test_malformed_file_error_does_not_echo_a_token(env: dict[str, str]) -> None:
    write_frogml(env, '{"servers": [{"access_token": "leaky-secret-0123456789",')
    with pytest.raises(ConfigurationError) as info:
        resolve_settings("jfml:", env=env)
    assert "leaky-secret" not in str(info.value)


def test_files_are_not_read_when_env_has_everything(env: dict[str, str]) -> None:
    write_frogml(env, "{broken")
    settings = resolve_settings("jfml://acme", env={**env, "JF_ACCESS_TOKEN": TOKEN})
    assert settings.credential_source == "JF_ACCESS_TOKEN environment variable"


# --- transport settings, mode, home ----------------------------------------------------------


@pytest.mark.parametrize(("raw", "value"), [("10", 10.0), ("2.5", 2.5), (" 0.25 ", 0.25)])
def test_jfml_timeout(raw: str, value: float, env: dict[str, str]) -> None:
    settings = resolve_settings(
        "jfml://acme", env={**env, "JF_ACCESS_TOKEN": TOKEN, "JFML_TIMEOUT": raw}
    )
    assert settings.timeout == value
    assert settings.sources["timeout"] == "JFML_TIMEOUT environment variable"


@pytest.mark.parametrize("raw", ["abc", "0", "-1", "nan", "inf", "10s"])
def test_bad_jfml_timeout_is_a_clear_error(raw: str, env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="JFML_TIMEOUT") as info:
        resolve_settings("jfml://acme", env={**env, "JF_ACCESS_TOKEN": TOKEN, "JFML_TIMEOUT": raw})
    assert "number of seconds" in str(info.value)


def test_ca_bundle_variables_in_order(env: dict[str, str], tmp_path: Path) -> None:
    first, second = tmp_path / "a.pem", tmp_path / "b.pem"
    first.write_text("x")
    second.write_text("y")
    base = {**env, "JF_ACCESS_TOKEN": TOKEN}
    assert resolve_settings("jfml://acme", env=base).verify is True
    settings = resolve_settings(
        "jfml://acme", env={**base, "REQUESTS_CA_BUNDLE": str(second), "JFML_CA_BUNDLE": str(first)}
    )
    assert settings.verify == str(first)
    settings = resolve_settings("jfml://acme", env={**base, "REQUESTS_CA_BUNDLE": str(second)})
    assert settings.verify == str(second)
    assert settings.sources["verify"] == "REQUESTS_CA_BUNDLE environment variable"


def test_missing_ca_bundle_names_the_variable(env: dict[str, str], tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="SSL_CERT_FILE"):
        resolve_settings(
            "jfml://acme",
            env={**env, "JF_ACCESS_TOKEN": TOKEN, "SSL_CERT_FILE": str(tmp_path / "nope.pem")},
        )


def test_mode_and_home(env: dict[str, str], tmp_path: Path) -> None:
    base = {**env, "JF_ACCESS_TOKEN": TOKEN}
    settings = resolve_settings("jfml://acme", env=base)
    assert settings.mode == "online" and settings.home == Path(env["HOME"]) / ".jfml"
    settings = resolve_settings(
        "jfml://acme", env={**base, "JFML_MODE": "OFFLINE", "JFML_HOME": str(tmp_path / "j")}
    )
    assert settings.mode == "offline" and settings.home == tmp_path / "j"
    with pytest.raises(ConfigurationError, match="JFML_MODE"):
        resolve_settings("jfml://acme", env={**base, "JFML_MODE": "sometimes"})


def test_retry_policy_from_env(env: dict[str, str]) -> None:
    settings = resolve_settings(
        "jfml://acme",
        env={
            **env,
            "JF_ACCESS_TOKEN": TOKEN,
            "JFML_RETRY_MAX_ATTEMPTS": "2",
            "JFML_RETRY_MAX_SECONDS": "7.5",
        },
    )
    assert (settings.retry.max_attempts, settings.retry.max_total_seconds) == (2, 7.5)
    assert settings.sources["retry"] == (
        "JFML_RETRY_MAX_ATTEMPTS and JFML_RETRY_MAX_SECONDS environment variables"
    )
    with pytest.raises(ConfigurationError, match="JFML_RETRY_MAX_ATTEMPTS"):
        resolve_settings(
            "jfml://acme", env={**env, "JF_ACCESS_TOKEN": TOKEN, "JFML_RETRY_MAX_ATTEMPTS": "2.5"}
        )


def test_os_environ_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JF_URL", "https://acme.jfrog.io/artifactory")
    monkeypatch.setenv("JF_ACCESS_TOKEN", TOKEN)
    assert resolve_settings("jfml:").api_url == "https://acme.jfrog.io/ml/api"


def test_unreadable_config_file_names_the_file(env: dict[str, str]) -> None:
    path = Path(env["HOME"]) / ".frogml" / "config.json"
    path.mkdir(parents=True)  # a directory where the file should be
    with pytest.raises(ConfigurationError, match="cannot read the frogml config") as info:
        resolve_settings("jfml:", env=env)
    assert str(path) in str(info.value)


def test_an_invalid_uri_is_reported_even_when_platform_url_is_given(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="unsupported tracking URI"):
        resolve_settings("mlflow://x", platform_url="https://acme.jfrog.io", token="t", env=env)


@pytest.mark.parametrize("timeout", [0, -1.0, float("nan")])
def test_bad_timeout_argument_is_a_clear_error(env: dict[str, str], timeout: float) -> None:
    with pytest.raises(ConfigurationError, match="timeout="):
        resolve_settings("jfml://acme", token="t", env=env, timeout=timeout)
