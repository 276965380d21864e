"""The reference JFrog ML API server as an ASGI app.

Layout of the URL space::

    /health          readiness, no auth
    /ml/api/...      the 17 contract operations (+ /ml/api/openapi.json), auth required
    /serving/...     the deployment runtime's app, when it has one; the same auth
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, ProgrammingError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from jfml_tracking.api import (
    API_PREFIX,
    DeploymentRequest,
    ErrorEnvelope,
    ExperimentRequest,
    ModelRequest,
    ModelVersionRequest,
)
from jfml_tracking.server import (
    routes_deployments,
    routes_experiments,
    routes_models,
    routes_versions,
)
from jfml_tracking.server.auth import Authenticator, AuthMiddleware
from jfml_tracking.server.db import Database
from jfml_tracking.server.errors import install_error_handlers
from jfml_tracking.server.middleware import BodyLimitMiddleware, RequestIdMiddleware
from jfml_tracking.server.runtime import DeploymentRuntime, default_runtime
from jfml_tracking.server.state import ServerState
from jfml_tracking.server.tables import Base

__all__ = ["DEFAULT_MAX_BODY_BYTES", "create_app"]

log = logging.getLogger("jfml_tracking.server")

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
_REQUEST_SCHEMAS = (ModelRequest, ModelVersionRequest, ExperimentRequest, DeploymentRequest)


def create_app(
    *,
    db_url: str,
    tokens: Iterable[str] = (),
    users: Mapping[str, str] | None = None,
    no_auth: bool = False,
    runtime: DeploymentRuntime | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    public_url: str | None = None,
) -> FastAPI:
    """Build the server app over ``db_url`` (tables are created if missing).

    ``users`` maps user names to ``auth.hash_password`` hashes. With neither tokens nor users
    and ``no_auth`` False, every API request is refused (401). ``public_url`` is the platform
    URL deployments restarted at startup are announced under (default: the URL they were
    created under).
    """
    authenticator = None if no_auth else Authenticator(tokens=tokens, users=users)
    db = Database(db_url)
    create_schema(db)
    runtime = default_runtime() if runtime is None else runtime
    state = ServerState(db=db, runtime=runtime, public_url=public_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.restart_live_deployments()
        try:
            yield
        finally:
            try:
                state.runtime.close()
            finally:
                db.dispose()

    app = FastAPI(
        title="jfml reference server",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.jfml = state
    install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware)
    app.add_api_route("/health", _health, methods=["GET"], include_in_schema=False)
    app.mount(API_PREFIX, _api_app(state, authenticator, max_body_bytes))
    serving = state.runtime.asgi_app()
    if serving is not None:
        # Endpoints need credentials like the API (as JFrog ML's do); --no-auth opens both.
        app.mount("/serving", AuthMiddleware(serving, authenticator=authenticator))
    return app


def _api_app(
    state: ServerState, authenticator: Authenticator | None, max_body_bytes: int
) -> FastAPI:
    api = FastAPI(
        title="JFrog ML REST API",
        version="1.x",
        description="The jfml reference implementation of the JFrog ML REST API.",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    api.state.jfml = state
    install_error_handlers(api)
    for module in (routes_models, routes_versions, routes_experiments, routes_deployments):
        api.include_router(module.router)
    api.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    api.add_middleware(AuthMiddleware, authenticator=authenticator)
    api.openapi = lambda: _openapi(api)  # type: ignore[method-assign]
    return api


def _openapi(api: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus the hand-read request bodies, security and the server prefix."""
    if api.openapi_schema is None:
        schema = get_openapi(
            title=api.title, version=api.version, description=api.description, routes=api.routes
        )
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        for request_schema in _REQUEST_SCHEMAS:
            generated = request_schema.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            schemas.update(generated.pop("$defs", {}))
            schemas[request_schema.__name__] = generated
        _document_errors(schema)
        components["securitySchemes"] = {
            "bearerAuth": {"type": "http", "scheme": "bearer"},
            "basicAuth": {"type": "http", "scheme": "basic"},
        }
        schema["security"] = [{"bearerAuth": []}, {"basicAuth": []}]
        schema["servers"] = [{"url": API_PREFIX}]
        api.openapi_schema = schema
    return api.openapi_schema


def _document_errors(schema: dict[str, Any]) -> None:
    """Replace FastAPI's 422 ``detail`` shape with the one error body every 4xx/5xx carries."""
    schemas = schema["components"]["schemas"]
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    envelope = ErrorEnvelope.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(envelope.pop("$defs", {}))
    schemas["ErrorEnvelope"] = envelope
    error = {
        "description": "Error (any 4xx/5xx): see ErrorEnvelope",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
    }
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            operation["responses"].pop("422", None)
            operation["responses"]["default"] = error


def create_schema(db: Database) -> None:
    """Create missing tables; safe when several processes start on one database at once."""
    write_engine = db.engine.execution_options(jfml_write=True)
    for attempt in range(3):
        try:
            with write_engine.begin() as conn:
                Base.metadata.create_all(conn)
            return
        except (OperationalError, ProgrammingError):
            # Another process created the same table between our check and CREATE.
            if attempt == 2:
                raise


def _health(request: Request) -> Response:
    state: ServerState = request.app.state.jfml
    try:
        with state.db.read() as session:
            session.execute(text("SELECT 1"))
    except OperationalError:
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"})
