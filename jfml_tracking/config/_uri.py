"""Tracking URIs (``jfml://acme``, ``jfml+https://host/path``, ``jfml:``) and platform URLs."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from jfml_tracking.api import API_PREFIX
from jfml_tracking.config._errors import ConfigurationError

__all__ = [
    "ALLOW_INSECURE_HTTP_ENV",
    "TrackingURI",
    "api_url_for",
    "check_transport_security",
    "is_loopback_host",
    "normalize_platform_url",
    "parse_tracking_uri",
]

ALLOW_INSECURE_HTTP_ENV = "JFML_ALLOW_INSECURE_HTTP"
CLOUD_DOMAIN = "jfrog.io"
_SERVER_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
# Suffixes users paste with the platform URL; the ML API base is always <platform>/ml/api.
_PLATFORM_SUFFIXES = (API_PREFIX, "/ml", "/artifactory")
_URI_FORMS = (
    "jfml://<server> (JFrog Cloud), jfml+https://host[:port][/path], "
    "jfml+http://localhost:<port>, or jfml: (platform URL from JF_URL or a config file)"
)


@dataclass(frozen=True)
class TrackingURI:
    """A parsed tracking URI; ``platform_url`` is None for bare ``jfml:``."""

    scheme: str
    platform_url: str | None


_HOST_LABEL = re.compile(r"^(?!-)[\w-]{1,63}(?<!-)$")


def _valid_host(host: str) -> bool:
    """A DNS name (letters, digits, hyphens; IDN letters too) or an IP address."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        pass
    return all(_HOST_LABEL.match(label) for label in host.rstrip(".").split("."))


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _insecure_allowed(env: Mapping[str, str]) -> bool:
    return env.get(ALLOW_INSECURE_HTTP_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def normalize_platform_url(
    url: str, *, origin: str, env: Mapping[str, str], check_secure: bool = True
) -> str:
    """``https://acme.jfrog.io/artifactory/`` -> ``https://acme.jfrog.io``.

    Accepts the platform URL with or without ``/artifactory``, ``/ml`` or ``/ml/api``.
    ``origin`` names where the URL came from, for error messages. With ``check_secure``,
    plain http is refused unless the host is loopback or ``JFML_ALLOW_INSECURE_HTTP=true``.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
    except ValueError:  # e.g. an unbalanced "[" of an IPv6 literal
        parts = urlsplit("")
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or not _valid_host(parts.hostname)
    ):
        raise ConfigurationError(
            f"{origin} is not a valid http(s) URL: {_describe(text)!r}. "
            "Fix: use the platform URL, e.g. https://acme.jfrog.io."
        )
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(
            f"{origin} contains credentials in the URL. Fix: remove 'user:password@' from the "
            "URL and set JF_ACCESS_TOKEN (or JF_USER and JF_PASSWORD) instead."
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(
            f"{origin} has a query or fragment ({_describe(text)!r}). "
            "Fix: give only scheme, host, optional port and path."
        )
    try:
        port = parts.port
        if port == 0:
            raise ValueError("port 0")
    except ValueError:
        raise ConfigurationError(
            f"{origin} has an invalid port: {_describe(text)!r}. Fix: use a port 1-65535."
        ) from None
    if check_secure:
        check_transport_security(text, origin=origin, env=env)
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = host if port is None else f"{host}:{port}"
    path = parts.path.rstrip("/")
    for suffix in _PLATFORM_SUFFIXES:
        if path.endswith(suffix):
            path = path[: -len(suffix)].rstrip("/")
            break
    return f"{parts.scheme}://{netloc}{path}"


def check_transport_security(url: str, *, origin: str, env: Mapping[str, str]) -> None:
    """Refuse plain http to a non-loopback host unless ``JFML_ALLOW_INSECURE_HTTP=true``."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "http" and not is_loopback_host(host) and not _insecure_allowed(env):
        raise ConfigurationError(
            f"{origin} uses plain http to {host}, which would send your credentials "
            "unencrypted. Fix: use https (jfml+https://...), or, only on a trusted network, set "
            f"{ALLOW_INSECURE_HTTP_ENV}=true."
        )


def _describe(text: str) -> str:
    """The URL with any userinfo masked, for messages."""
    return re.sub(r"://[^/@]*@", "://***@", text)


def parse_tracking_uri(uri: str, *, env: Mapping[str, str] | None = None) -> TrackingURI:
    """Parse a ``jfml`` tracking URI.

    - ``jfml://acme`` -> ``https://acme.jfrog.io`` (a name with a dot is taken as a full host:
      ``jfml://ml.example.com`` -> ``https://ml.example.com``);
    - ``jfml+https://host[:port][/path]`` -> ``https://host[:port][/path]``;
    - ``jfml+http://...`` -> ``http://...``, loopback hosts only unless
      ``JFML_ALLOW_INSECURE_HTTP=true``;
    - ``jfml:`` (or ``jfml://``) -> platform URL from the environment or config files.

    Raises:
        ConfigurationError: the URI has another scheme or is malformed; the message lists the
            accepted forms.
    """
    env = {} if env is None else env
    text = uri.strip()
    scheme, sep, rest = text.partition(":")
    scheme = scheme.lower()
    if not sep or scheme not in ("jfml", "jfml+https", "jfml+http"):
        raise ConfigurationError(
            f"unsupported tracking URI {_describe(text)!r}. Fix: use one of {_URI_FORMS}."
        )
    if scheme == "jfml":
        return TrackingURI(scheme, _cloud_platform(rest, text))
    if not rest.startswith("//") or len(rest) <= 2:
        raise ConfigurationError(
            f"tracking URI {_describe(text)!r} has no host. "
            f"Fix: write it as {scheme}://host[:port][/path]."
        )
    inner = f"{scheme.removeprefix('jfml+')}:{rest}"
    return TrackingURI(
        scheme, normalize_platform_url(inner, origin=f"tracking URI {_describe(text)!r}", env=env)
    )


def _cloud_platform(rest: str, text: str) -> str | None:
    if rest in ("", "//", "///"):
        return None
    if not rest.startswith("//"):
        raise ConfigurationError(
            f"tracking URI {_describe(text)!r} is malformed. Fix: use jfml://<server> "
            "(e.g. jfml://acme for https://acme.jfrog.io) or bare jfml:."
        )
    name = rest[2:].rstrip("/")
    if "@" in name:
        raise ConfigurationError(
            "the tracking URI contains credentials ('user:password@'). Fix: remove them from the "
            "URI and set JF_ACCESS_TOKEN (or JF_USER and JF_PASSWORD) instead."
        )
    labels = name.split(".")
    if "@" in name or "/" in name or ":" in name or not all(_SERVER_NAME.match(p) for p in labels):
        raise ConfigurationError(
            f"tracking URI {_describe(text)!r}: {name.split('@')[-1]!r} is not a server name. "
            "Fix: use jfml://<server> with just the name (jfml://acme means "
            "https://acme.jfrog.io), or jfml+https://host[:port][/path] for any other address."
        )
    host = name.lower() if "." in name else f"{name.lower()}.{CLOUD_DOMAIN}"
    return f"https://{host}"


def api_url_for(platform_url: str) -> str:
    """The ML API base under a platform URL: ``<platform>/ml/api``."""
    return f"{platform_url.rstrip('/')}{API_PREFIX}"
