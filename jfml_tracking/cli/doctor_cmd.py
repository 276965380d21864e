"""``jfml doctor``: where each setting came from, then one pass/fail line per check.

Checks, in order (a failed one skips those that depend on it): configuration, reachability
(DNS + TCP), TLS (handshake and certificate verification with the configured CA bundle), auth
and API (an authenticated ``listModels``). Exit status 1 if any check fails. Secrets never
appear: a token shows at most its last 4 characters, a password not at all.
"""

from __future__ import annotations

import os
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import click

from jfml_tracking.config import (
    BasicAuth,
    ConfigurationError,
    RetryPolicy,
    Settings,
    redact,
    resolve_settings,
)

__all__ = ["doctor"]

_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")
_CHECK_RETRY = RetryPolicy(max_attempts=2, max_total_seconds=15.0, backoff_base=0.2)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None = skipped
    detail: str
    hint: str = ""


def _row(label: str, value: str, source: str) -> str:
    return f"  {label:<14} {value}" + (f"   ({source})" if source else "")


def _describe(settings: Settings, uri: str, uri_source: str) -> list[str]:
    src = settings.sources
    if isinstance(settings.auth, BasicAuth):
        creds = f"user {settings.user!r}, password ********"
    else:
        creds = f"access token {settings.token_hint}"
    verify = "on, default CA bundle" if settings.verify is True else f"on, CA {settings.verify}"
    retry = settings.retry
    return [
        "Configuration",
        _row("tracking URI", uri, uri_source),
        _row("platform URL", settings.platform_url, src.get("platform_url", "")),
        _row("API URL", settings.api_url, src.get("api_url", "")),
        _row("credentials", creds, settings.credential_source),
        _row("TLS verify", verify, src.get("verify", "")),
        _row("timeout", f"{settings.timeout:g} s", src.get("timeout", "")),
        _row(
            "retries",
            f"{retry.max_attempts} attempts within {retry.max_total_seconds:g} s",
            src.get("retry", ""),
        ),
        _row("mode", settings.mode, src.get("mode", "")),
        _row("home", str(settings.home), src.get("home", "")),
    ]


def _host_port(url: str) -> tuple[str, int, bool]:
    parts = urlsplit(url)
    tls = parts.scheme == "https"
    return parts.hostname or "", parts.port or (443 if tls else 80), tls


def check_reachability(settings: Settings) -> Check:
    host, port, _ = _host_port(settings.api_url)
    proxy = next((os.environ[v] for v in _PROXY_VARIABLES if os.environ.get(v)), None)
    if proxy:
        return Check("reachability", None, "a proxy is configured; checked by the API request")
    began = time.perf_counter()
    try:
        with socket.create_connection((host, port), timeout=min(settings.timeout, 10.0)):
            pass
    except OSError as exc:
        return Check(
            "reachability",
            False,
            f"cannot connect to {host}:{port}: {exc.strerror or exc}",
            "Check the server name in the tracking URI or JF_URL, DNS, VPN and firewall; "
            "behind a proxy set HTTPS_PROXY.",
        )
    elapsed = (time.perf_counter() - began) * 1000
    return Check("reachability", True, f"TCP connect to {host}:{port} in {elapsed:.0f} ms")


def check_tls(settings: Settings) -> Check:
    host, port, tls = _host_port(settings.api_url)
    if not tls:
        return Check("TLS", None, "plain http (allowed for loopback or JFML_ALLOW_INSECURE_HTTP)")
    if settings.verify is True:
        context = ssl.create_default_context()
        try:
            import certifi  # httpx's default bundle; the check must use the same

            context = ssl.create_default_context(cafile=certifi.where())
        except ImportError:
            pass
    elif os.path.isdir(str(settings.verify)):
        context = ssl.create_default_context(capath=str(settings.verify))
    else:
        context = ssl.create_default_context(cafile=str(settings.verify))
    try:
        with (
            socket.create_connection((host, port), timeout=min(settings.timeout, 10.0)) as raw,
            context.wrap_socket(raw, server_hostname=host) as conn,
        ):
            version = conn.version()
    except ssl.SSLCertVerificationError as exc:
        return Check(
            "TLS",
            False,
            f"certificate of {host} not trusted: {exc.verify_message}",
            "If your company inspects TLS, set JFML_CA_BUNDLE to its CA bundle (PEM file).",
        )
    except (ssl.SSLError, OSError) as exc:
        return Check(
            "TLS",
            False,
            f"TLS handshake with {host}:{port} failed: {exc}",
            "Is this an https endpoint? For a local plain-http server use jfml+http://.",
        )
    return Check("TLS", True, f"certificate of {host} verified ({version})")


def check_api(settings: Settings) -> list[Check]:
    """Auth and API in one authenticated ``listModels`` request."""
    from jfml_tracking.client import (
        Forbidden,
        JFrogMLClient,
        JFrogMLError,
        NotFound,
        Unauthorized,
        UnexpectedResponse,
    )

    skipped = Check("API", None, "skipped: auth failed")
    began = time.perf_counter()
    try:
        with JFrogMLClient(settings.replace(retry=_CHECK_RETRY)) as client:
            page = client.list_models(limit=1)
    except Unauthorized:
        hint = (
            f"The credentials come from {settings.credential_source}. Create a new access "
            "token in the JFrog Platform and set JF_ACCESS_TOKEN (or fix that source)."
        )
        return [Check("auth", False, "401: the server rejected the credentials", hint), skipped]
    except Forbidden:
        return [
            Check(
                "auth",
                False,
                "403: valid credentials without JFrog ML permission",
                "Ask your JFrog administrator for access to JFrog ML.",
            ),
            skipped,
        ]
    except (NotFound, UnexpectedResponse) as exc:
        return [
            Check("auth", None, "not determined: no JFrog ML API answered"),
            Check(
                "API",
                False,
                redact(exc.message),
                f"Is {settings.api_url} the JFrog ML API? Check JF_URL or JFML_API_URL.",
            ),
        ]
    except JFrogMLError as exc:
        return [
            Check("auth", None, "not determined"),
            Check("API", False, redact(exc.message), "Retry later; if it persists, see above."),
        ]
    elapsed = (time.perf_counter() - began) * 1000
    count = page.total_count if page.total_count is not None else len(page.models)
    return [
        Check("auth", True, f"accepted ({settings.credential_source})"),
        Check("API", True, f"listModels answered in {elapsed:.0f} ms ({count} models)"),
    ]


def run_checks(settings: Settings) -> list[Check]:
    checks = [Check("configuration", True, "settings resolved")]
    steps: list[Callable[[Settings], Check]] = [check_reachability, check_tls]
    for index, step in enumerate(steps):
        result = step(settings)
        checks.append(result)
        if result.ok is False:
            later = [s.__name__.removeprefix("check_") for s in steps[index + 1 :]]
            names = [{"tls": "TLS"}.get(n, n) for n in later] + ["auth", "API"]
            return checks + [Check(n, None, f"skipped: {result.name} failed") for n in names]
    return checks + check_api(settings)


def _line(check: Check) -> str:
    status = {True: "PASS", False: "FAIL", None: "SKIP"}[check.ok]
    text = f"  {status}  {check.name:<14} {check.detail}"
    return text + (f"\n        hint: {check.hint}" if check.hint else "")


@click.command("doctor")
@click.option(
    "--tracking-uri",
    "-u",
    default=None,
    help="jfml://<server>, jfml+https://host, jfml+http://localhost:PORT or jfml: "
    "(default: MLFLOW_TRACKING_URI, else jfml:).",
)
def doctor(tracking_uri: str | None) -> None:
    """Show where each setting comes from and check reachability, TLS, auth and the API."""
    if tracking_uri:
        uri, uri_source = tracking_uri, "--tracking-uri"
    elif os.environ.get("MLFLOW_TRACKING_URI", "").startswith("jfml"):
        uri, uri_source = os.environ["MLFLOW_TRACKING_URI"], "MLFLOW_TRACKING_URI"
    else:
        uri, uri_source = "jfml:", "default"
    try:
        settings = resolve_settings(uri)
    except ConfigurationError as exc:
        click.echo(_line(Check("configuration", False, redact(str(exc)))))
        raise SystemExit(1) from None
    click.echo("\n".join(_describe(settings, uri, uri_source)))
    click.echo("\nChecks")
    checks = run_checks(settings)
    for check in checks:
        click.echo(_line(check))
    failed = [c.name for c in checks if c.ok is False]
    click.echo(f"\n{'FAILED: ' + ', '.join(failed) if failed else 'All checks passed.'}")
    if failed:
        raise SystemExit(1)
