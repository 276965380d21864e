"""Turning httpx exceptions and error answers into the client's typed errors."""

from __future__ import annotations

import httpx
from pydantic import ValidationError

from jfml_tracking.api import REQUEST_ID_HEADER, ErrorEnvelope
from jfml_tracking.client._exceptions import (
    Conflict,
    ConnectionFailed,
    Forbidden,
    JFrogMLStatusError,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    ValidationFailed,
)
from jfml_tracking.config import redact

__all__ = ["status_error", "transport_error"]

_STATUS_CLASSES: dict[int, type[JFrogMLStatusError]] = {
    400: ValidationFailed,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: ValidationFailed,
    415: ValidationFailed,
    422: ValidationFailed,
    429: RateLimited,
}
_MAX_TEXT = 300


def transport_error(
    exc: httpx.TransportError, method: str, path: str, url: str
) -> ConnectionFailed:
    """A ``ConnectionFailed`` describing ``exc``; the caller chains it ``from exc``."""
    timed_out = isinstance(exc, httpx.TimeoutException)
    kind = type(exc).__name__
    detail = redact(str(exc)) or kind
    if isinstance(exc, httpx.ConnectError):
        hint = f"Is the server at {url} up and reachable? Run 'jfml doctor' to check."
    elif timed_out:
        hint = "The server did not answer in time; raise JFML_TIMEOUT if it is just slow."
    else:
        hint = "The connection was dropped; check proxies and the network."
    message = f"{method} {path}: {kind}: {detail}. {hint}"
    return ConnectionFailed(message, method=method, path=path, timed_out=timed_out)


def _parse_body(response: httpx.Response) -> tuple[str, str | None, dict[str, object], str | None]:
    """(message, code, details, request_id) from an error answer, however malformed."""
    request_id = response.headers.get(REQUEST_ID_HEADER)
    try:
        body = ErrorEnvelope.model_validate_json(response.content).error
    except (ValidationError, ValueError):
        text = response.text.strip().replace("\n", " ")[:_MAX_TEXT]
        return redact(text) or response.reason_phrase, None, {}, request_id
    return redact(body.message), body.code, body.details, body.request_id or request_id


def status_error(
    response: httpx.Response,
    method: str,
    path: str,
    *,
    credential_source: str,
    retry_after: float | None = None,
) -> JFrogMLStatusError:
    """The typed error for an answer with status >= 400."""
    status = response.status_code
    message, code, details, request_id = _parse_body(response)
    text = f"{status} {response.reason_phrase}: {method} {path}: {message}"
    if code:
        text += f" (code={code}"
        text += f", request_id={request_id})" if request_id else ")"
    elif request_id:
        text += f" (request_id={request_id})"
    if status == 401:
        text += (
            f". The credentials from {credential_source} were rejected. Fix: check that they "
            "are valid for this server and not expired (create a new access token in the JFrog "
            "Platform UI, under your profile's access tokens, and set JF_ACCESS_TOKEN); run "
            "'jfml doctor' to see which settings are in use."
        )
    elif status == 403:
        text += ". Fix: ask your JFrog administrator for the JFrog ML permission this needs."
    cls = _STATUS_CLASSES.get(status, ServerError if status >= 500 else JFrogMLStatusError)
    error = cls(
        text,
        method=method,
        path=path,
        status_code=status,
        code=code,
        details=details,
        request_id=request_id,
        server_message=message,
    )
    if isinstance(error, Unauthorized):
        error.credential_source = credential_source
    elif isinstance(error, RateLimited):
        error.retry_after = retry_after
    return error
