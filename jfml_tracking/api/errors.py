"""The one error body every non-2xx answer carries.

Example::

    HTTP/1.1 409 Conflict
    {"error": {"code": "conflict",
               "message": "A model named 'churn' already exists.",
               "details": {"field": "name", "existing_id": "mdl_..."},
               "request_id": "req_..."}}

``code`` is stable and machine-readable; ``message`` is for people and says what to fix;
``details`` is free-form context (the offending field, the blocking deployment, ...);
``request_id`` echoes the ``X-Request-ID`` header for support.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["REQUEST_ID_HEADER", "ErrorBody", "ErrorCode", "ErrorEnvelope"]

REQUEST_ID_HEADER = "X-Request-ID"


class ErrorCode(str, Enum):
    BAD_REQUEST = "bad_request"
    VALIDATION_FAILED = "validation_failed"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    RATE_LIMITED = "rate_limited"
    INTERNAL = "internal"
    UNAVAILABLE = "unavailable"

    def __str__(self) -> str:
        return str(self.value)


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)
    request_id: str | None = None


class ErrorEnvelope(BaseModel):
    """Top-level shape of every error response: ``{"error": {...}}``."""

    model_config = ConfigDict(extra="allow")

    error: ErrorBody
