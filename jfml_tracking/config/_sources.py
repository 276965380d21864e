"""Where credentials and platform URLs come from: environment, token file, config files.

Each reader returns what it found with a human-readable ``source`` ("JF_ACCESS_TOKEN
environment variable", "JFrog CLI config /home/me/.jfrog/jfrog-cli.conf.v6 (server 'acme')")
that ``jfml doctor`` prints and a 401 error quotes. Secrets are wrapped in ``Secret`` as soon
as they are read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from jfml_tracking.config._auth import BasicAuth, BearerAuth, TokenFileAuth
from jfml_tracking.config._errors import ConfigurationError
from jfml_tracking.config._secret import Secret
from jfml_tracking.config._uri import normalize_platform_url

__all__ = [
    "Credentials",
    "ServerEntry",
    "env_credentials",
    "explicit_credentials",
    "frogml_config_path",
    "jfrog_cli_config_path",
    "read_frogml_config",
    "read_jfrog_cli_config",
    "same_server",
    "token_file_credentials",
]

JFROG_CLI_CONFIG_NAME = "jfrog-cli.conf.v6"


@dataclass(frozen=True)
class Credentials:
    """An ``httpx.Auth`` plus where it came from; ``secret`` serves ``jfml doctor``'s hint."""

    auth: httpx.Auth
    source: str
    secret: Secret
    user: str | None = None


@dataclass(frozen=True)
class ServerEntry:
    """One server of a config file: its platform URL and its credentials, if any."""

    platform_url: str
    credentials: Credentials | None
    origin: str


def _home(env: Mapping[str, str]) -> Path:
    home = env.get("HOME") or env.get("USERPROFILE")
    return Path(home) if home else Path.home()


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return value if value else None


def _token_or_basic(
    token: str | None, user: str | None, password: str | None, source: str, fix: str
) -> Credentials | None:
    if token:
        secret = Secret(token)
        return Credentials(BearerAuth(secret), source, secret)
    if user and password:
        secret = Secret(password)
        return Credentials(BasicAuth(user, secret), source, secret, user=user)
    if user or password:
        missing = "password" if user else "user"
        raise ConfigurationError(
            f"{source} gives a {'user' if user else 'password'} but no {missing}. Fix: {fix}"
        )
    return None


def explicit_credentials(
    token: str | Secret | None, user: str | None, password: str | Secret | None
) -> Credentials | None:
    raw_token = token.get_secret_value() if isinstance(token, Secret) else token
    raw_password = password.get_secret_value() if isinstance(password, Secret) else password
    source = "explicit token argument" if raw_token else "explicit user/password arguments"
    return _token_or_basic(
        raw_token, user, raw_password, source, "pass both user= and password=, or token=."
    )


def env_credentials(env: Mapping[str, str]) -> Credentials | None:
    """``JF_ACCESS_TOKEN`` (bearer) or ``JF_USER`` + ``JF_PASSWORD`` (basic)."""
    token = _get(env, "JF_ACCESS_TOKEN")
    if token:
        return _token_or_basic(token, None, None, "JF_ACCESS_TOKEN environment variable", "")
    return _token_or_basic(
        None,
        _get(env, "JF_USER"),
        _get(env, "JF_PASSWORD"),
        "JF_USER/JF_PASSWORD environment variables",
        "set both JF_USER and JF_PASSWORD, or set JF_ACCESS_TOKEN instead.",
    )


def token_file_credentials(env: Mapping[str, str]) -> Credentials | None:
    """``JF_ACCESS_TOKEN_FILE``: bearer auth re-reading the file on 401."""
    name = _get(env, "JF_ACCESS_TOKEN_FILE")
    if not name:
        return None
    path = Path(name).expanduser()
    auth = TokenFileAuth(path)
    return Credentials(auth, f"token file {path} (JF_ACCESS_TOKEN_FILE)", auth.token)


def same_server(a: str, b: str) -> bool:
    """Whether two platform URLs name the same server (scheme, host and port)."""
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)


# --- config files -----------------------------------------------------------------------------


def _load_json(path: Path, what: str, fix: str) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the {what} {path}: {exc.strerror or exc}. Fix: {fix}"
        ) from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        # The JSON error position is useful; the text itself may hold a token, so omit it.
        raise ConfigurationError(
            f"the {what} {path} is not valid JSON (line {getattr(exc, 'lineno', '?')}, column "
            f"{getattr(exc, 'colno', '?')}). Fix: {fix}"
        ) from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"the {what} {path} must hold a JSON object. Fix: {fix}")
    return data


def _field(entry: Mapping[str, Any], key: str, path: Path, what: str, fix: str) -> str | None:
    value = entry.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigurationError(f"the {what} {path}: '{key}' must be a string. Fix: {fix}")
    return value


def frogml_config_path(env: Mapping[str, str]) -> Path:
    return _home(env) / ".frogml" / "config.json"


def read_frogml_config(env: Mapping[str, str]) -> ServerEntry | None:
    """``~/.frogml/config.json`` as frogml writes it: ``servers[0]`` with ``artifactory_url``
    and ``access_token`` (``user``/``password`` also accepted)."""
    path = frogml_config_path(env)
    what, fix = "frogml config", "repair or delete it, or log in again with 'frogml config add'."
    data = _load_json(path, what, fix)
    if data is None:
        return None
    servers = data.get("servers")
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], dict):
        raise ConfigurationError(
            f"the {what} {path} has no 'servers' list with a server object in it. Fix: {fix}"
        )
    entry = servers[0]
    url = _field(entry, "artifactory_url", path, what, fix)
    if not url:
        raise ConfigurationError(
            f"the {what} {path}: servers[0] has no 'artifactory_url'. Fix: {fix}"
        )
    origin = f"frogml config {path}"
    platform = normalize_platform_url(
        url, origin=f"'artifactory_url' in {path}", env={}, check_secure=False
    )
    creds = _token_or_basic(
        _field(entry, "access_token", path, what, fix),
        _field(entry, "user", path, what, fix),
        _field(entry, "password", path, what, fix),
        origin,
        fix,
    )
    return ServerEntry(platform, creds, origin)


def jfrog_cli_config_path(env: Mapping[str, str]) -> Path:
    base = _get(env, "JFROG_CLI_HOME_DIR")
    directory = Path(base).expanduser() if base else _home(env) / ".jfrog"
    return directory / JFROG_CLI_CONFIG_NAME


def read_jfrog_cli_config(env: Mapping[str, str]) -> list[tuple[ServerEntry, bool]]:
    """Every server of the JFrog CLI config with its ``isDefault`` flag (a lone server is the
    default); empty when there is no config."""
    path = jfrog_cli_config_path(env)
    what, fix = "JFrog CLI config", "repair it, or run 'jf config add' / 'jf config remove'."
    data = _load_json(path, what, fix)
    if data is None:
        return []
    servers = data.get("servers", [])
    if not isinstance(servers, list) or not all(isinstance(s, dict) for s in servers):
        raise ConfigurationError(
            f"the {what} {path}: 'servers' must be a list of objects. Fix: {fix}"
        )
    found = []
    for index, entry in enumerate(servers):
        server_id = _field(entry, "serverId", path, what, fix) or f"#{index}"
        url = _field(entry, "url", path, what, fix) or _field(
            entry, "artifactoryUrl", path, what, fix
        )
        if not url:
            continue  # a server without a platform URL cannot serve JFrog ML
        origin = f"JFrog CLI config {path} (server '{server_id}')"
        platform = normalize_platform_url(
            url, origin=f"server '{server_id}' in {path}", env={}, check_secure=False
        )
        creds = _token_or_basic(
            _field(entry, "accessToken", path, what, fix),
            _field(entry, "user", path, what, fix),
            _field(entry, "password", path, what, fix),
            origin,
            fix,
        )
        is_default = entry.get("isDefault") is True or len(servers) == 1
        found.append((ServerEntry(platform, creds, origin), is_default))
    return found
