"""The ASGI app the server mounts at ``/serving``: predictions, round-robin over the workers.

Routes (relative to the mount point):

- ``POST /v1/deployments/{id}/invocations``: MLflow's scoring protocol, passed through to one
  worker. A worker's 4xx/5xx comes back in the API's error envelope with MLflow's message.
- ``GET /v1/deployments/{id}/ping``: 200 when the deployment is ``active``.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router

from jfml_tracking.api import REQUEST_ID_HEADER, DeploymentStatus, ErrorBody, ErrorCode
from jfml_tracking.server.serving._upstream import UpstreamAnswer, WorkerGone, WorkerPool

if TYPE_CHECKING:
    from jfml_tracking.server.serving._runtime import ProcessRuntime

__all__ = ["build_proxy_app"]

_PREDICT_TIMEOUT = 120.0
_FORWARDED_HEADERS = ("content-type", "accept")
MAX_BODY_BYTES = 64 * 1024 * 1024
_STATUS_CODES = {
    400: ErrorCode.BAD_REQUEST,
    404: ErrorCode.NOT_FOUND,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    422: ErrorCode.VALIDATION_FAILED,
}


def error_response(
    request: Request, status_code: int, message: str, **details: Any
) -> JSONResponse:
    """A response in the API's error envelope (see ``jfml_tracking.api.errors``)."""
    fallback = ErrorCode.UNAVAILABLE if status_code in (503, 504) else ErrorCode.INTERNAL
    code = _STATUS_CODES.get(status_code, fallback)
    body = ErrorBody(
        code=str(code),
        message=message,
        details={k: v for k, v in details.items() if v is not None},
        request_id=request.headers.get(REQUEST_ID_HEADER),
    )
    return JSONResponse({"error": body.model_dump()}, status_code=status_code)


class _Upstream:
    """One ``WorkerPool`` per event loop (tests may run the app on several loops)."""

    def __init__(self) -> None:
        self._pools: dict[int, WorkerPool] = {}

    async def post(self, port: int, body: bytes, headers: dict[str, str]) -> UpstreamAnswer:
        key = id(asyncio.get_running_loop())
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = WorkerPool()
        return await pool.post(port, body, headers, timeout=_PREDICT_TIMEOUT)


def build_proxy_app(runtime: ProcessRuntime) -> Router:
    """The ``/serving`` app of ``runtime``."""
    proxy = _Proxy(runtime)
    return Router(
        routes=[
            Route(
                "/v1/deployments/{deployment_id}/invocations", proxy.invocations, methods=["POST"]
            ),
            Route("/v1/deployments/{deployment_id}/ping", proxy.ping, methods=["GET"]),
        ]
    )


class _Proxy:
    def __init__(self, runtime: ProcessRuntime) -> None:
        self._runtime = runtime
        self._upstream = _Upstream()

    def _lookup(self, request: Request) -> tuple[Any, Response | None]:
        """The active deployment the path names, or the error answer to give instead."""
        deployment_id = request.path_params["deployment_id"]
        served = self._runtime.get(deployment_id)
        if served is None:
            return None, error_response(
                request,
                404,
                f"No deployment {deployment_id!r} is being served here; "
                "list deployments with `mlflow deployments list -t jfml`.",
                deployment_id=deployment_id,
            )
        state = served.state()
        if state.status is DeploymentStatus.ACTIVE:
            return served, None
        hint = (
            "wait until it is active"
            if state.status is DeploymentStatus.DEPLOYING
            else "check its status_reason, fix the model version and deploy again"
        )
        return None, error_response(
            request,
            503,
            f"Deployment {deployment_id!r} is {state.status}; {hint}.",
            status=str(state.status),
            status_reason=state.reason,
        )

    async def invocations(self, request: Request) -> Response:
        served, problem = self._lookup(request)
        if problem is not None:
            return problem
        body = await _read_body(request)
        if body is None:
            return error_response(
                request,
                413,
                f"The request body exceeds {MAX_BODY_BYTES // (1024 * 1024)} MiB; "
                "split the batch into smaller requests.",
            )
        headers = {k: request.headers[k] for k in _FORWARDED_HEADERS if k in request.headers}
        headers.setdefault("content-type", "application/json")
        for port in served.ports():
            try:
                answer = await self._upstream.post(port, body, headers)
            except WorkerGone:
                continue  # that worker is down; the monitor restarts it, try the next one
            except TimeoutError:
                return error_response(request, 504, "The model took too long to answer.")
            return _relay(request, answer)
        return error_response(
            request, 503, "No worker of this deployment is answering right now; retry shortly."
        )

    async def ping(self, request: Request) -> Response:
        _served, problem = self._lookup(request)
        return problem or Response("\n", media_type="application/json")


async def _read_body(request: Request) -> bytes | None:
    """The body, or None once it grows past ``MAX_BODY_BYTES`` (never buffered beyond it)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _relay(request: Request, answer: UpstreamAnswer) -> Response:
    if answer.status < 400:
        content_type = answer.headers.get("content-type", "application/json")
        return Response(answer.content, status_code=answer.status, media_type=content_type)
    message, mlflow_code = _worker_message(answer)
    return error_response(request, answer.status, message, mlflow_error_code=mlflow_code)


def _worker_message(answer: UpstreamAnswer) -> tuple[str, str | None]:
    """MLflow's error text (JSON ``message`` or plain text), without its stack trace."""
    text = answer.content.decode("utf-8", "replace")
    try:
        payload = json.loads(text)
    except ValueError:
        return text.strip()[:4000] or f"worker answered {answer.status}", None
    if isinstance(payload, dict):
        return str(payload.get("message") or payload)[:4000], payload.get("error_code")
    return str(payload)[:4000], None
