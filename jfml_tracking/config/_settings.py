"""``Settings`` and ``resolve_settings()``: the whole precedence, written in one place."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import httpx

from jfml_tracking.config._errors import ConfigurationError
from jfml_tracking.config._retry import DEFAULT_RETRY_POLICY, RetryPolicy
from jfml_tracking.config._secret import Secret
from jfml_tracking.config._sources import (
    Credentials,
    ServerEntry,
    env_credentials,
    explicit_credentials,
    frogml_config_path,
    jfrog_cli_config_path,
    read_frogml_config,
    read_jfrog_cli_config,
    same_server,
    token_file_credentials,
)
from jfml_tracking.config._uri import (
    api_url_for,
    check_transport_security,
    normalize_platform_url,
    parse_tracking_uri,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "Mode",
    "Settings",
    "resolve_home",
    "resolve_mode",
    "resolve_settings",
]

DEFAULT_TIMEOUT = 30.0
CA_BUNDLE_VARIABLES = ("JFML_CA_BUNDLE", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
Mode = Literal["online", "offline"]


@dataclass(frozen=True)
class Settings:
    """Everything a client needs to talk to one JFrog ML server; immutable.

    ``sources`` maps each setting (``platform_url``, ``api_url``, ``credentials``,
    ``verify``, ``timeout``, ``retry``, ``mode``, ``home``) to where its value came from, for
    ``jfml doctor``. ``repr()`` never shows a secret.
    """

    api_url: str
    platform_url: str
    auth: httpx.Auth
    credential_source: str
    verify: bool | str = True
    timeout: float = DEFAULT_TIMEOUT
    retry: RetryPolicy = DEFAULT_RETRY_POLICY
    mode: Mode = "online"
    home: Path = field(default_factory=lambda: Path.home() / ".jfml")
    secret: Secret | None = field(default=None, repr=False, compare=False)
    user: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (``timeout=5``, ``retry=RetryPolicy(...)``...)."""
        return replace(self, **changes)

    @property
    def token_hint(self) -> str:
        """At most the last 4 characters of the secret in use, for display."""
        return self.secret.hint() if self.secret is not None else "(none)"


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def resolve_mode(env: Mapping[str, str] | None = None) -> Mode:
    """``JFML_MODE``: ``online`` (default) or ``offline`` (journal only; ``jfml sync`` later)."""
    value = _env(env).get("JFML_MODE", "").strip().lower() or "online"
    if value not in ("online", "offline"):
        raise ConfigurationError(
            f"JFML_MODE={value!r} is not a mode. Fix: set JFML_MODE to 'online' or 'offline', "
            "or unset it."
        )
    return "online" if value == "online" else "offline"


def resolve_home(env: Mapping[str, str] | None = None) -> Path:
    """``JFML_HOME`` (where journals live), default ``~/.jfml``."""
    env = _env(env)
    value = env.get("JFML_HOME", "").strip()
    if value:
        return Path(value).expanduser()
    home = env.get("HOME")
    return (Path(home) if home else Path.home()) / ".jfml"


def _number(env: Mapping[str, str], name: str, default: float, *, integer: bool = False) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(int(raw)) if integer else float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        kind = "a whole number" if integer else "a number of seconds (int or float)"
        raise ConfigurationError(
            f"{name}={raw!r} is not valid. Fix: set {name} to {kind} greater than 0, or unset it."
        )
    return value


def _timeout(env: Mapping[str, str], timeout: float | None) -> tuple[float, str]:
    if timeout is None:
        origin = "JFML_TIMEOUT environment variable" if env.get("JFML_TIMEOUT") else "default"
        return _number(env, "JFML_TIMEOUT", DEFAULT_TIMEOUT), origin
    if not (math.isfinite(timeout) and timeout > 0):
        raise ConfigurationError(
            f"timeout={timeout!r} is not valid. Fix: pass a number of seconds greater than 0."
        )
    return float(timeout), "timeout argument"


def _verify(env: Mapping[str, str]) -> tuple[bool | str, str]:
    for name in CA_BUNDLE_VARIABLES:
        value = env.get(name, "").strip()
        if not value:
            continue
        path = Path(value).expanduser()
        if not path.exists():
            raise ConfigurationError(
                f"{name}={value!r}: no such CA bundle. Fix: point {name} at a PEM file with your "
                f"CA certificates, or unset it."
            )
        return str(path), f"{name} environment variable"
    return True, "default"


def _retry(env: Mapping[str, str], retry: RetryPolicy | None) -> RetryPolicy:
    if retry is not None:
        return retry
    attempts = _number(
        env, "JFML_RETRY_MAX_ATTEMPTS", DEFAULT_RETRY_POLICY.max_attempts, integer=True
    )
    total = _number(env, "JFML_RETRY_MAX_SECONDS", DEFAULT_RETRY_POLICY.max_total_seconds)
    return replace(DEFAULT_RETRY_POLICY, max_attempts=int(attempts), max_total_seconds=total)


def _retry_source(env: Mapping[str, str], retry: RetryPolicy | None) -> str:
    if retry is not None:
        return "retry argument"
    names = [n for n in ("JFML_RETRY_MAX_ATTEMPTS", "JFML_RETRY_MAX_SECONDS") if env.get(n)]
    if not names:
        return "default"
    return " and ".join(names) + (
        " environment variables" if len(names) > 1 else " environment variable"
    )


class _Files:
    """Config files, read at most once per resolution and only when needed."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self._frogml: ServerEntry | None = None
        self._cli: list[tuple[ServerEntry, bool]] | None = None
        self._frogml_read = False

    def frogml(self) -> ServerEntry | None:
        if not self._frogml_read:
            self._frogml, self._frogml_read = read_frogml_config(self._env), True
        return self._frogml

    def cli(self) -> list[tuple[ServerEntry, bool]]:
        if self._cli is None:
            self._cli = read_jfrog_cli_config(self._env)
        return self._cli

    def cli_default(self) -> ServerEntry | None:
        return next((entry for entry, is_default in self.cli() if is_default), None)

    def credentials_for(self, platform: str, skipped: list[str]) -> Credentials | None:
        """Credentials of the first config-file server that is ``platform``'s server.

        A file's token is only ever sent to the server that file names.
        """
        frogml = self.frogml()
        candidates = [] if frogml is None else [frogml]
        default = self.cli_default()
        others = [entry for entry, _ in self.cli() if entry is not default]
        candidates += ([default] if default else []) + others
        for entry in candidates:
            if entry.credentials is None:
                continue
            if same_server(entry.platform_url, platform):
                return entry.credentials
            skipped.append(f"{entry.origin} is for {entry.platform_url}")
        return None


def _platform(
    tracking_uri: str | None, platform_url: str | None, env: Mapping[str, str], files: _Files
) -> tuple[str, str]:
    parsed = parse_tracking_uri(tracking_uri, env=env) if tracking_uri else None  # validates
    if platform_url:
        return normalize_platform_url(
            platform_url, origin="platform_url argument", env=env
        ), "platform_url argument"
    if parsed is not None and parsed.platform_url and tracking_uri:
        return parsed.platform_url, f"tracking URI {tracking_uri.strip()!r}"
    jf_url = env.get("JF_URL", "").strip()
    if jf_url:
        origin = "JF_URL environment variable"
        return normalize_platform_url(jf_url, origin=origin, env=env), origin
    for entry in (files.frogml(), files.cli_default()):
        if entry is not None:
            check_transport_security(entry.platform_url, origin=entry.origin, env=env)
            return entry.platform_url, entry.origin
    raise ConfigurationError(
        "no JFrog platform URL configured. Fix: use a tracking URI like jfml://<server> "
        "(JFrog Cloud) or jfml+https://host, or set JF_URL=https://<server>.jfrog.io, or "
        f"configure a server with the JFrog CLI ('jf config add'; read from "
        f"{jfrog_cli_config_path(env)}) or frogml ({frogml_config_path(env)})."
    )


def _credentials(
    platform: str,
    token: str | Secret | None,
    user: str | None,
    password: str | Secret | None,
    env: Mapping[str, str],
    files: _Files,
) -> Credentials:
    found = explicit_credentials(token, user, password)
    found = found or env_credentials(env) or token_file_credentials(env)
    skipped: list[str] = []
    found = found or files.credentials_for(platform, skipped)
    if found is not None:
        return found
    note = f" (not used: {'; '.join(skipped)})" if skipped else ""
    raise ConfigurationError(
        f"no credentials for {platform}{note}. Fix: set JF_ACCESS_TOKEN to an access token "
        "(or JF_USER and JF_PASSWORD, or JF_ACCESS_TOKEN_FILE to a file holding the token), "
        "or add the server with 'jf config add'."
    )


def resolve_settings(
    tracking_uri: str | None = None,
    *,
    platform_url: str | None = None,
    token: str | Secret | None = None,
    user: str | None = None,
    password: str | Secret | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    retry: RetryPolicy | None = None,
) -> Settings:
    """Resolve where and how to reach JFrog ML.

    Platform URL, first found: ``platform_url``; the tracking URI (``jfml://acme``...);
    ``JF_URL``; ``~/.frogml/config.json``; the JFrog CLI's default server.
    Credentials, first found: ``token`` or ``user`` + ``password``; ``JF_ACCESS_TOKEN`` or
    ``JF_USER`` + ``JF_PASSWORD``; ``JF_ACCESS_TOKEN_FILE``; the frogml config; the JFrog CLI
    config. A config file's credentials are used only for the server that file names.
    ``JFML_API_URL`` overrides the API base ``<platform>/ml/api``. ``env`` defaults to
    ``os.environ`` (pass a dict in tests).

    Raises:
        ConfigurationError: invalid URI or value, malformed config file, no platform URL or no
            credentials. The message names the problem, the file or variable, and the fix.
    """
    env = _env(env)
    files = _Files(env)
    platform, platform_source = _platform(tracking_uri, platform_url, env, files)
    api_url, api_source = api_url_for(platform), "platform URL + /ml/api"
    if env.get("JFML_API_URL", "").strip():
        api_source = "JFML_API_URL environment variable"
        api_url = env["JFML_API_URL"].strip().rstrip("/")
        normalize_platform_url(api_url, origin=api_source, env=env)  # validates only
    creds = _credentials(platform, token, user, password, env, files)
    verify, verify_source = _verify(env)
    timeout, timeout_source = _timeout(env, timeout)
    mode, home = resolve_mode(env), resolve_home(env)
    sources = {
        "platform_url": platform_source,
        "api_url": api_source,
        "credentials": creds.source,
        "verify": verify_source,
        "timeout": timeout_source,
        "mode": "JFML_MODE environment variable" if env.get("JFML_MODE") else "default",
        "home": "JFML_HOME environment variable" if env.get("JFML_HOME") else "default",
        "retry": _retry_source(env, retry),
    }
    return Settings(
        api_url=api_url,
        platform_url=platform,
        auth=creds.auth,
        credential_source=creds.source,
        verify=verify,
        timeout=timeout,
        retry=_retry(env, retry),
        mode=mode,
        home=home,
        secret=creds.secret,
        user=creds.user,
        sources=sources,
    )
