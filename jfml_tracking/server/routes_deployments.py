"""Deployments: ``/v1/deployments`` and ``/v1/deployments/{deploymentId}``.

The row is written first (``deploying``), then handed to the runtime outside the transaction,
so a slow runtime never holds the database's write lock. Reads ask the runtime for the current
state and persist any change; a runtime failure reason is kept as ``status_reason``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from jfml_tracking.api import Deployment, DeploymentList, DeploymentRequest, DeploymentStatus
from jfml_tracking.server.errors import Conflict, NotFound
from jfml_tracking.server.params import Paging, json_body, principal_of, request_body_openapi
from jfml_tracking.server.routes_models import find_model
from jfml_tracking.server.routes_versions import find_version
from jfml_tracking.server.state import ServerState, State, apply_state
from jfml_tracking.server.tables import DeploymentRow, new_id, utcnow
from jfml_tracking.server.views import deployment_view, json_response

__all__ = ["router"]

DeploymentBody = Annotated[DeploymentRequest, Depends(json_body(DeploymentRequest))]

router = APIRouter(prefix="/v1/deployments", tags=["Deployments"])


def _find(session: Session, deployment_id: str) -> DeploymentRow:
    row = session.get(DeploymentRow, deployment_id)
    if row is None:
        raise NotFound(
            f"Deployment {deployment_id!r} not found.", details={"deployment_id": deployment_id}
        )
    return row


def _persist(state: ServerState, changed: list[DeploymentRow]) -> None:
    """Write runtime-reported changes; rows deleted meanwhile are skipped."""
    if not changed:
        return
    with state.db.write() as session:
        for seen in changed:
            row = session.get(DeploymentRow, seen.id)
            if row is not None:
                row.status, row.endpoint_url = seen.status, seen.endpoint_url
                row.status_reason, row.updated_at = seen.status_reason, seen.updated_at


def platform_url(request: Request) -> str:
    """The URL clients used to reach this server, without the API prefix."""
    return f"{request.url.scheme}://{request.url.netloc}"


@router.get(
    "", operation_id="listDeployments", summary="List Deployments", response_model=DeploymentList
)
def list_deployments(paging: Paging, state: State) -> Response:
    with state.db.read() as session:
        total = session.scalar(select(func.count()).select_from(DeploymentRow)) or 0
        rows = list(
            session.scalars(
                select(DeploymentRow)
                .order_by(DeploymentRow.created_at, DeploymentRow.id)
                .limit(paging.limit)
                .offset(paging.offset)
            ).all()
        )
    _persist(state, [row for row in rows if state.reconcile(row)])
    body = DeploymentList(deployments=[deployment_view(r) for r in rows], total_count=total)
    return json_response(body)


@router.post(
    "",
    operation_id="createDeployment",
    summary="Create Deployment",
    status_code=201,
    response_model=Deployment,
    openapi_extra=request_body_openapi(DeploymentRequest),
)
def create_deployment(
    request: Request,
    body: DeploymentBody,
    state: State,
) -> Response:
    now = utcnow()
    base_url = platform_url(request)
    row = DeploymentRow(
        id=new_id("dep"),
        name=body.name,
        model_id=body.model_id,
        model_version_id=body.model_version_id,
        status=DeploymentStatus.DEPLOYING.value,
        base_url=base_url,
        replicas=body.replicas,
        resources=body.resources.model_dump(exclude_none=True) if body.resources else {},
        created_at=now,
        updated_at=now,
        created_by=principal_of(request),
    )
    with state.db.write() as session:
        find_model(session, body.model_id, lock=True)
        version = find_version(session, body.model_id, body.model_version_id)
        existing = session.scalars(
            select(DeploymentRow.id).where(DeploymentRow.name == body.name)
        ).first()
        if existing is not None:
            raise Conflict(
                f"A deployment named {body.name!r} already exists ({existing}).",
                details={"field": "name", "existing_id": existing},
            )
        session.add(row)
        spec = state.spec_for(row, version.artifact_path)
    if apply_state(row, state.start(spec, base_url)):
        _persist(state, [row])
    return json_response(deployment_view(row), 201)


@router.get(
    "/{deploymentId}",
    operation_id="getDeployment",
    summary="Get Deployment",
    response_model=Deployment,
)
def get_deployment(
    deploymentId: str,
    state: State,
) -> Response:
    with state.db.read() as session:
        row = _find(session, deploymentId)
    if state.reconcile(row):
        _persist(state, [row])
    return json_response(deployment_view(row))


@router.delete(
    "/{deploymentId}",
    operation_id="deleteDeployment",
    summary="Delete Deployment",
    status_code=204,
)
def delete_deployment(
    deploymentId: str,
    state: State,
) -> Response:
    with state.db.read() as session:
        _find(session, deploymentId)
    state.stop_quietly(deploymentId)
    with state.db.write() as session:
        row = session.get(DeploymentRow, deploymentId)
        if row is not None:
            session.delete(row)
    return Response(status_code=204)
