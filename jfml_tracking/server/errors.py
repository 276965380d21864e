"""Every failure becomes one error body: ``{"error": {code, message, details, request_id}}``.

Routers raise ``ApiError`` (or a subclass); framework and database exceptions are mapped by
``error_response``, which walks the exception's MRO through ``_MAPPERS``. Nothing else in the
server builds an error response.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, MutableMapping
from typing import Any

from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from jfml_tracking.api import REQUEST_ID_HEADER, ErrorCode

__all__ = [
    "ApiError",
    "BadRequest",
    "BodyTooLarge",
    "Conflict",
    "NotFound",
    "Unprocessable",
    "error_body",
    "error_response",
    "install_error_handlers",
    "validation_details",
]

log = logging.getLogger("jfml_tracking.server")


class ApiError(Exception):
    """An answer other than 2xx, with a machine code and a message that says what to fix."""

    status_code = 400
    code = ErrorCode.BAD_REQUEST

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        status_code: int | None = None,
        code: ErrorCode | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.headers = headers or {}
        if status_code is not None:
            self.status_code = status_code
        if code is not None:
            self.code = code


class BadRequest(ApiError):
    status_code = 400
    code = ErrorCode.BAD_REQUEST


class Unprocessable(ApiError):
    status_code = 422
    code = ErrorCode.VALIDATION_FAILED


class NotFound(ApiError):
    status_code = 404
    code = ErrorCode.NOT_FOUND


class Conflict(ApiError):
    status_code = 409
    code = ErrorCode.CONFLICT


class BodyTooLarge(ApiError):
    """Raised while reading a body that passes the server's size limit."""

    status_code = 413
    code = ErrorCode.PAYLOAD_TOO_LARGE


def error_body(
    code: str, message: str, details: dict[str, Any] | None, request_id: str | None
) -> bytes:
    body = {
        "error": {
            "code": str(code),
            "message": message,
            "details": details or {},
            "request_id": request_id,
        }
    }
    return json.dumps(body, default=str).encode()


def request_id_of(scope: MutableMapping[str, Any]) -> str | None:
    value = scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None


def error_response(request: Request, exc: Exception) -> Response:
    """The one place an exception becomes an HTTP answer."""
    for cls in type(exc).__mro__:
        mapper = _MAPPERS.get(cls)
        if mapper is not None:
            api_error = mapper(exc)
            break
    else:  # pragma: no cover - Exception is always in the MRO
        api_error = _internal(exc)
    request_id = request_id_of(request.scope)
    headers = dict(api_error.headers)
    if request_id:
        headers[REQUEST_ID_HEADER] = request_id
    return Response(
        error_body(api_error.code, api_error.message, api_error.details, request_id),
        status_code=api_error.status_code,
        media_type="application/json",
        headers=headers,
    )


def validation_details(errors: list[Any]) -> list[dict[str, Any]]:
    """Pydantic errors without the offending input (it may be huge, or a secret)."""
    return [
        {
            "loc": [str(part) for part in err.get("loc", ())],
            "msg": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        for err in errors[:20]
    ]


def _describe(err: dict[str, Any]) -> str:
    loc = [str(p) for p in err.get("loc", ())]
    where = loc[0] if loc else ""
    field = ".".join(loc[1:]) if where in ("body", "query", "path", "header") else ".".join(loc)
    if where == "query":
        return f"query parameter '{field}': {err.get('msg', 'invalid')}"
    if where == "path":
        return f"path parameter '{field}': {err.get('msg', 'invalid')}"
    return f"field '{field or '<body>'}': {err.get('msg', 'invalid')}"


def _from_validation(errors: list[Any]) -> ApiError:
    if any(e.get("type") == "json_invalid" for e in errors):
        return BadRequest(
            "The request body is not valid JSON. Send a JSON object with "
            "Content-Type: application/json.",
            details={"errors": validation_details(errors)},
        )
    first = _describe(errors[0]) if errors else "invalid request"
    more = f" (and {len(errors) - 1} more problem(s), see details)" if len(errors) > 1 else ""
    return Unprocessable(
        f"Invalid request: {first}{more}.", details={"errors": validation_details(errors)}
    )


def _http(exc: Exception) -> ApiError:
    assert isinstance(exc, StarletteHTTPException)
    codes = {
        404: (ErrorCode.NOT_FOUND, "No such API route. See /ml/api/openapi.json for the routes."),
        405: (ErrorCode.METHOD_NOT_ALLOWED, "This method is not allowed on this route."),
        413: (ErrorCode.PAYLOAD_TOO_LARGE, "The request body is too large."),
        415: (ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Send the body as application/json."),
    }
    code, message = codes.get(exc.status_code, (ErrorCode.BAD_REQUEST, str(exc.detail)))
    return ApiError(
        message, status_code=exc.status_code, code=code, headers=dict(exc.headers or {})
    )


def _integrity(exc: Exception) -> ApiError:
    # Reached only when a concurrent writer won a race the routers' pre-checks could not see.
    return Conflict(
        "The request conflicts with a record written concurrently (a duplicate name or "
        "version, or a parent that was just deleted). Read the current state and retry."
    )


def _operational(exc: Exception) -> ApiError:
    log.warning("database unavailable: %s", type(exc).__name__)
    return ApiError(
        "The database is busy or unavailable; retry shortly.",
        status_code=503,
        code=ErrorCode.UNAVAILABLE,
        headers={"Retry-After": "1"},
    )


def _data(exc: Exception) -> ApiError:
    return BadRequest("A value cannot be stored (for example a NUL character in a string).")


def _internal(exc: Exception) -> ApiError:
    log.error("unhandled %s in request", type(exc).__name__, exc_info=exc)
    return ApiError(
        "Internal server error; the server log has details (search for the request id).",
        status_code=500,
        code=ErrorCode.INTERNAL,
    )


_MAPPERS: dict[type, Callable[[Exception], ApiError]] = {
    ApiError: lambda exc: exc if isinstance(exc, ApiError) else _internal(exc),
    RequestValidationError: lambda exc: _from_validation(list(exc.errors())),  # type: ignore[attr-defined]
    StarletteHTTPException: _http,
    IntegrityError: _integrity,
    OperationalError: _operational,
    DataError: _data,
    Exception: _internal,
}


def install_error_handlers(app: Any) -> None:
    # Exception itself stays with the request-id middleware: Starlette treats a handler for it
    # as a 500 page and re-raises after sending it.
    for exc_type in _MAPPERS:
        if exc_type is not Exception:
            app.add_exception_handler(exc_type, error_response)
