"""``JFrogMLClient``, its asyncio twin ``AsyncJFrogMLClient``, and their typed errors: the one
way jfml-tracking talks to JFrog ML.

Everything public is importable from here; the ``_*`` modules are private.
"""

from jfml_tracking.client._async_client import AsyncJFrogMLClient
from jfml_tracking.client._base import DEFAULT_PAGE_SIZE, RECONCILE_WINDOW
from jfml_tracking.client._client import JFrogMLClient
from jfml_tracking.client._exceptions import (
    Conflict,
    ConnectionFailed,
    Forbidden,
    JFrogMLError,
    JFrogMLStatusError,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    UnexpectedResponse,
    ValidationFailed,
)
from jfml_tracking.client._retry import parse_retry_after
from jfml_tracking.config import (
    DEFAULT_RETRY_POLICY,
    NO_RETRY,
    ConfigurationError,
    RetryPolicy,
    Settings,
    resolve_settings,
)

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_RETRY_POLICY",
    "NO_RETRY",
    "RECONCILE_WINDOW",
    "AsyncJFrogMLClient",
    "ConfigurationError",
    "Conflict",
    "ConnectionFailed",
    "Forbidden",
    "JFrogMLClient",
    "JFrogMLError",
    "JFrogMLStatusError",
    "NotFound",
    "RateLimited",
    "RetryPolicy",
    "ServerError",
    "Settings",
    "Unauthorized",
    "UnexpectedResponse",
    "ValidationFailed",
    "parse_retry_after",
    "resolve_settings",
]

for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and _obj.__module__.startswith("jfml_tracking.client."):
        _obj.__module__ = "jfml_tracking.client"
del _name, _obj
