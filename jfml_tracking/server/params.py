"""What routers take from a request: the JSON body, paging, the principal and the stores.

Bodies are parsed with pydantic's JSON mode (``model_validate_json``): the shared request
schemas are strict, and strict JSON mode is what accepts ``"draft"`` for an enum and an ISO
string for a datetime while still refusing ``"1"`` for a number.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel, ValidationError

from jfml_tracking.api import ErrorCode
from jfml_tracking.server.errors import ApiError, BadRequest, Unprocessable, validation_details

__all__ = [
    "MAX_LIMIT",
    "Page",
    "Paging",
    "json_body",
    "page",
    "principal_of",
    "request_body_openapi",
    "require_finite",
]

MAX_LIMIT = 1000
DEFAULT_LIMIT = 25
# Beyond any real table, and inside every backend's 64-bit integers.
MAX_OFFSET = 2**62

T = TypeVar("T", bound=BaseModel)


def json_body(schema: type[T]) -> Callable[[Request], Awaitable[T]]:
    """A dependency that reads the body and validates it against ``schema``."""

    async def dependency(request: Request) -> T:
        content_type = request.headers.get("content-type", "application/json")
        media = content_type.split(";", 1)[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            raise ApiError(
                f"Unsupported Content-Type {media!r}; send the body as application/json.",
                status_code=415,
                code=ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            )
        raw = await request.body()
        if not raw.strip():
            raise BadRequest(f"The request body is empty; send a JSON object ({schema.__name__}).")
        try:
            return schema.model_validate_json(raw)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False)
            if any(e["type"] == "json_invalid" for e in errors):
                raise BadRequest(
                    "The request body is not valid JSON. Send a JSON object with "
                    "Content-Type: application/json.",
                    details={"errors": validation_details(list(errors))},
                ) from None
            raise Unprocessable(
                f"Invalid {schema.__name__}: {_first_problem(list(errors))}",
                details={"errors": validation_details(list(errors))},
            ) from None

    return dependency


def _first_problem(errors: list[Any]) -> str:
    first = errors[0]
    field = ".".join(str(p) for p in first["loc"]) or "<body>"
    more = f" (and {len(errors) - 1} more, see details)" if len(errors) > 1 else ""
    return f"field '{field}': {first['msg']}{more}."


def request_body_openapi(schema: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` declaring the JSON body these routes read by hand."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{schema.__name__}"}}
            },
        }
    }


def require_finite(values: dict[str, float] | None, field: str) -> None:
    """JSON cannot carry NaN or infinity; refuse them rather than store unreadable rows."""
    for key, value in (values or {}).items():
        if not math.isfinite(value):
            raise Unprocessable(
                f"{field}[{key!r}] is {value}; only finite numbers can be stored. "
                "Leave non-finite values out of the request.",
                details={"field": field, "key": key},
            )


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


async def page(
    limit: int = Query(DEFAULT_LIMIT, description=f"Maximum number of results (1..{MAX_LIMIT})"),
    offset: int = Query(0, description="Number of results to skip (>= 0)"),
) -> Page:
    """Paging parameters, checked with messages that say the allowed range.

    async so that FastAPI does not send it to the thread pool (it does no I/O).
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise Unprocessable(
            f"limit must be between 1 and {MAX_LIMIT} (got {limit}).",
            details={"field": "limit", "minimum": 1, "maximum": MAX_LIMIT},
        )
    if not 0 <= offset <= MAX_OFFSET:
        raise Unprocessable(
            f"offset must be 0 or more, and at most {MAX_OFFSET} (got {offset}).",
            details={"field": "offset", "minimum": 0, "maximum": MAX_OFFSET},
        )
    return Page(limit=limit, offset=offset)


def principal_of(request: Request) -> str:
    principal = request.scope.get("state", {}).get("principal")
    return principal if isinstance(principal, str) else "anonymous"


Paging = Annotated[Page, Depends(page)]
"""Route parameter type for ``limit``/``offset``."""
