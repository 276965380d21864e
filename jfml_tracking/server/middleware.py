"""Pure-ASGI middleware of the API app: request ids, the last-resort error net, body limits.

No business logic here; each class does one thing to the ASGI conversation.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import MutableMapping, Sequence
from typing import Any

from jfml_tracking.api import REQUEST_ID_HEADER, ErrorCode
from jfml_tracking.server.errors import BodyTooLarge, error_body

__all__ = ["BodyLimitMiddleware", "RequestIdMiddleware", "send_error"]

log = logging.getLogger("jfml_tracking.server")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_REQUEST_ID_KEY = REQUEST_ID_HEADER.lower().encode()

Scope = MutableMapping[str, Any]


async def send_error(
    send: Any,
    scope: Scope,
    status: int,
    code: ErrorCode,
    message: str,
    extra_headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """Send a complete error response in the shared body shape."""
    request_id = scope.get("state", {}).get("request_id")
    body = error_body(code, message, {}, request_id)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *extra_headers,
    ]
    if request_id:
        headers.append((_REQUEST_ID_KEY, request_id.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestIdMiddleware:
    """Echo a safe ``X-Request-ID`` (or mint one), and turn any escaped exception into a 500."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or f"req_{uuid.uuid4().hex}"
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [h for h in message.get("headers", []) if h[0].lower() != _REQUEST_ID_KEY]
                headers.append((_REQUEST_ID_KEY, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            log.error("unhandled %s (request %s)", type(exc).__name__, request_id, exc_info=exc)
            if started:
                raise
            await send_error(
                send_with_id,
                scope,
                500,
                ErrorCode.INTERNAL,
                f"Internal server error; the server log has details (request {request_id}).",
            )


def _incoming_request_id(scope: Scope) -> str | None:
    for key, value in scope.get("headers", []):
        if key == _REQUEST_ID_KEY:
            text = value.decode("latin-1")
            return text if _SAFE_REQUEST_ID.match(text) else None
    return None


class BodyLimitMiddleware:
    """413 for bodies over ``max_bytes``, whether declared by Content-Length or streamed."""

    def __init__(self, app: Any, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._too_large(scope, send)
            return
        seen = 0
        started = False

        async def counting_receive() -> dict[str, Any]:
            nonlocal seen
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self._message())
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._too_large(scope, send)

    async def _too_large(self, scope: Scope, send: Any) -> None:
        await send_error(
            send,
            scope,
            413,
            ErrorCode.PAYLOAD_TOO_LARGE,
            self._message(),
            [(b"connection", b"close")],
        )

    def _message(self) -> str:
        return (
            f"The request body is larger than the server's limit of {self.max_bytes} bytes. "
            "Send fewer metrics/parameters per request, or start the server with a larger "
            "--max-body-bytes."
        )


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", []):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
