"""Resolving where and how to reach JFrog ML: tracking URI, platform URL, credentials, TLS,
timeouts, retries, mode; plus secrets that never print.

``resolve_settings()`` implements the whole precedence in one function; the result is an
immutable ``Settings`` that ``JFrogMLClient`` takes. Every error is a ``ConfigurationError``
whose message names the problem, the file or variable, and the fix.
"""

from jfml_tracking.config._auth import BasicAuth, BearerAuth, TokenFileAuth, read_token_file
from jfml_tracking.config._errors import ConfigurationError
from jfml_tracking.config._retry import DEFAULT_RETRY_POLICY, NO_RETRY, RetryPolicy
from jfml_tracking.config._secret import RedactingFilter, Secret, redact, register_secret
from jfml_tracking.config._settings import (
    DEFAULT_TIMEOUT,
    Mode,
    Settings,
    resolve_home,
    resolve_mode,
    resolve_settings,
)
from jfml_tracking.config._uri import (
    ALLOW_INSECURE_HTTP_ENV,
    TrackingURI,
    api_url_for,
    is_loopback_host,
    normalize_platform_url,
    parse_tracking_uri,
)

__all__ = [
    "ALLOW_INSECURE_HTTP_ENV",
    "DEFAULT_RETRY_POLICY",
    "DEFAULT_TIMEOUT",
    "NO_RETRY",
    "BasicAuth",
    "BearerAuth",
    "ConfigurationError",
    "Mode",
    "RedactingFilter",
    "RetryPolicy",
    "Secret",
    "Settings",
    "TokenFileAuth",
    "TrackingURI",
    "api_url_for",
    "is_loopback_host",
    "normalize_platform_url",
    "parse_tracking_uri",
    "read_token_file",
    "redact",
    "register_secret",
    "resolve_home",
    "resolve_mode",
    "resolve_settings",
]
