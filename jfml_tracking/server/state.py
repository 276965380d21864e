"""What the routers share: the database, the deployment runtime, and their reconciliation."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from jfml_tracking.api import DeploymentStatus
from jfml_tracking.server.db import Database
from jfml_tracking.server.runtime import DeploymentRuntime, DeploymentSpec, RuntimeState
from jfml_tracking.server.tables import DeploymentRow, VersionRow, later_than

__all__ = ["ServerState", "State", "inline_on_sqlite", "server_state"]

log = logging.getLogger("jfml_tracking.server")
LIVE_STATUSES = (DeploymentStatus.DEPLOYING.value, DeploymentStatus.ACTIVE.value)


@dataclass
class ServerState:
    db: Database
    runtime: DeploymentRuntime
    public_url: str | None = None

    def spec_for(self, row: DeploymentRow, artifact_path: str | None) -> DeploymentSpec:
        return DeploymentSpec(
            deployment_id=row.id,
            name=row.name,
            model_id=row.model_id,
            model_version_id=row.model_version_id,
            artifact_path=artifact_path,
            replicas=row.replicas,
            resources=dict(row.resources or {}),
        )

    def start(self, spec: DeploymentSpec, base_url: str) -> RuntimeState:
        """Hand a deployment to the runtime; a runtime that raises yields ``failed``."""
        try:
            return self.runtime.start(spec, base_url=base_url)
        except Exception as exc:
            log.warning("runtime failed to start deployment %s: %s", spec.deployment_id, exc)
            return RuntimeState(DeploymentStatus.FAILED, reason=f"runtime error: {exc}")

    def stop_quietly(self, deployment_id: str) -> None:
        try:
            self.runtime.stop(deployment_id)
        except Exception as exc:
            log.warning("runtime failed to stop deployment %s: %s", deployment_id, exc)

    def reconcile(self, row: DeploymentRow) -> bool:
        """Copy the runtime's view of ``row`` into it; True when something changed."""
        try:
            state = self.runtime.describe(row.id)
        except Exception as exc:
            log.warning("runtime failed to describe deployment %s: %s", row.id, exc)
            return False
        return apply_state(row, state) if state is not None else False

    def restart_live_deployments(self) -> None:
        """Serve again what was deploying or active when the server last stopped."""
        with self.db.read() as session:
            rows = session.execute(
                select(DeploymentRow, VersionRow.artifact_path)
                .join(VersionRow, VersionRow.id == DeploymentRow.model_version_id)
                .where(DeploymentRow.status.in_(LIVE_STATUSES))
                .order_by(DeploymentRow.created_at, DeploymentRow.id)
            ).all()
        results: dict[str, RuntimeState] = {}
        for row, artifact_path in rows:
            base_url = self.public_url or row.base_url or "http://127.0.0.1"
            results[row.id] = self.start(self.spec_for(row, artifact_path), base_url)
        if not results:
            return
        with self.db.write() as session:
            for row in session.scalars(
                select(DeploymentRow).where(DeploymentRow.id.in_(list(results)))
            ):
                apply_state(row, results[row.id])
                if self.public_url:
                    row.base_url = self.public_url
        log.info("restarted %d deployment(s)", len(results))


def apply_state(row: DeploymentRow, state: RuntimeState) -> bool:
    status = DeploymentStatus(state.status).value
    reason = state.reason if status == DeploymentStatus.FAILED.value else None
    endpoint = state.endpoint_url or row.endpoint_url
    if (row.status, row.endpoint_url, row.status_reason) == (status, endpoint, reason):
        return False
    row.status, row.endpoint_url, row.status_reason = status, endpoint, reason
    row.updated_at = later_than(row.updated_at)
    return True


async def server_state(request: Request) -> ServerState:
    # async on purpose: FastAPI runs sync dependencies in the thread pool, a hop per request.
    state: ServerState = request.app.state.jfml
    return state


State = Annotated[ServerState, Depends(server_state)]
"""Route parameter type that injects the server's shared state."""


def inline_on_sqlite(fn: Callable[..., Response]) -> Callable[..., Awaitable[Response]]:
    """Run a database-only endpoint on the event loop for SQLite, in the thread pool otherwise.

    For endpoints that only touch the database (no runtime calls). On SQLite a read takes
    microseconds and never waits for writers (WAL), and a write takes about a millisecond
    and has to wait for the one write lock anyway, so a thread-pool hop (two context
    switches, the largest cost of a small request on a busy machine) buys nothing. The one
    cost: while a write waits for another *process* to commit, this process's event loop
    waits too. A networked database can stall for longer, so there the thread pool stays.
    The endpoint must take ``state: State`` (FastAPI passes keywords).
    """

    @functools.wraps(fn)
    async def endpoint(**kwargs: Any) -> Response:
        state: ServerState = kwargs["state"]
        if state.db.is_sqlite:
            return fn(**kwargs)
        return await run_in_threadpool(functools.partial(fn, **kwargs))

    return endpoint
