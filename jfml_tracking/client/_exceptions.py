"""The errors of ``JFrogMLClient``.

Exception tree::

    JFrogMLError                 everything the client raises once a request was attempted
    ├── ConnectionFailed         no usable answer: connect error, timeout, dropped connection
    ├── UnexpectedResponse       an answer that is not the JFrog ML API (HTML page, bad JSON)
    └── JFrogMLStatusError       the server answered with an error status
        ├── ValidationFailed     400, 413, 415, 422
        ├── Unauthorized         401 (says which credential source was used and how to fix it)
        ├── Forbidden            403
        ├── NotFound             404
        ├── Conflict             409
        ├── RateLimited          429 (``retry_after`` in seconds, if the server said)
        └── ServerError          5xx

    ConfigurationError           (jfml_tracking.config) bad configuration; raised before any
                                 request, outside this tree, like httpx's misuse errors

Every error carries ``method`` and ``path`` (no host, no query secrets); status errors also
``status_code``, the server's message (``server_message``; ``message`` is the whole text), its
error ``code``, ``details`` and ``request_id``.
No error ever contains a token, a password or an ``Authorization`` header.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Conflict",
    "ConnectionFailed",
    "Forbidden",
    "JFrogMLError",
    "JFrogMLStatusError",
    "NotFound",
    "RateLimited",
    "ServerError",
    "Unauthorized",
    "UnexpectedResponse",
    "ValidationFailed",
]


class JFrogMLError(Exception):
    """Base class of every error raised while talking to JFrog ML.

    Every instance has ``message``, ``method`` and ``path``; ``status_code``, ``code``,
    ``server_message`` and ``request_id`` are set when the server answered (None / "" when
    no answer came), so handlers can read them without type checks.
    """

    status_code: int | None = None
    code: str | None = None
    server_message: str = ""
    request_id: str | None = None

    def __init__(self, message: str, *, method: str, path: str) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path


class ConnectionFailed(JFrogMLError):
    """No usable answer arrived: the connection failed, timed out or was dropped.

    ``timed_out`` tells a timeout from other transport failures. ``maybe_processed`` is True
    when a POST may have reached the server (look the entity up before creating it again).
    The underlying httpx exception is chained as ``__cause__``.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        path: str,
        timed_out: bool = False,
        maybe_processed: bool = False,
    ) -> None:
        super().__init__(message, method=method, path=path)
        self.timed_out = timed_out
        self.maybe_processed = maybe_processed


class UnexpectedResponse(JFrogMLError):
    """The answer is not what the JFrog ML API sends (wrong URL, proxy page, bad JSON)."""

    def __init__(self, message: str, *, method: str, path: str, status_code: int) -> None:
        super().__init__(message, method=method, path=path)
        self.status_code: int | None = status_code


class JFrogMLStatusError(JFrogMLError):
    """The server answered ``status_code`` >= 400."""

    def __init__(
        self,
        message: str,
        *,
        method: str,
        path: str,
        status_code: int,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        request_id: str | None = None,
        server_message: str = "",
    ) -> None:
        super().__init__(message, method=method, path=path)
        self.server_message = server_message
        self.status_code: int = status_code
        self.code = code
        self.details = details or {}
        self.request_id = request_id

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code}, method={self.method!r}, "
            f"path={self.path!r}, code={self.code!r}, request_id={self.request_id!r})"
        )


class ValidationFailed(JFrogMLStatusError):
    """The server rejected the request body or parameters (400, 413, 415, 422)."""


class Unauthorized(JFrogMLStatusError):
    """401: the credentials were rejected. ``credential_source`` says which ones."""

    def __init__(self, message: str, *, credential_source: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.credential_source = credential_source


class Forbidden(JFrogMLStatusError):
    """403: the credentials are valid but lack a permission."""


class NotFound(JFrogMLStatusError):
    """404: no such entity (or no JFrog ML API at this URL)."""


class Conflict(JFrogMLStatusError):
    """409: e.g. a model of that name exists; ``details`` may carry ``existing_id``."""


class RateLimited(JFrogMLStatusError):
    """429 after the retry budget ran out; ``retry_after`` is the server's hint in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(JFrogMLStatusError):
    """5xx: the server failed; retried for 502/503/504 before this is raised."""
