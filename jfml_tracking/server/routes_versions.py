"""Model versions: ``/v1/models/{modelId}/versions`` and ``.../versions/{versionId}``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import ScalarSelect
from starlette.responses import Response

from jfml_tracking.api import (
    ModelVersion,
    ModelVersionList,
    ModelVersionRequest,
    ModelVersionStatus,
)
from jfml_tracking.server.errors import Conflict, NotFound
from jfml_tracking.server.params import (
    Paging,
    json_body,
    principal_of,
    request_body_openapi,
    require_finite,
)
from jfml_tracking.server.routes_models import find_model, refuse_if_deployed
from jfml_tracking.server.state import State, inline_on_sqlite
from jfml_tracking.server.tables import (
    DeploymentRow,
    ModelRow,
    VersionRow,
    insert_row,
    new_id,
    utcnow,
)
from jfml_tracking.server.views import json_response, version_view

__all__ = ["find_version", "router"]

VersionBody = Annotated[ModelVersionRequest, Depends(json_body(ModelVersionRequest))]

router = APIRouter(prefix="/v1/models/{modelId}/versions", tags=["Model Versions"])


def _existing_version(version: str) -> ScalarSelect[str]:
    return (
        select(VersionRow.id)
        .where(VersionRow.model_id == ModelRow.id, VersionRow.version == version)
        .correlate(ModelRow)
        .scalar_subquery()
    )


def find_version(session: Session, model_id: str, version_id: str) -> VersionRow:
    """The version, if it belongs to ``model_id``; otherwise a 404 that says which."""
    row = session.get(VersionRow, version_id)
    if row is None or row.model_id != model_id:
        raise NotFound(
            f"Model version {version_id!r} not found under model {model_id!r}.",
            details={"model_id": model_id, "version_id": version_id},
        )
    return row


@router.get(
    "",
    operation_id="listModelVersions",
    summary="List Model Versions",
    response_model=ModelVersionList,
)
@inline_on_sqlite
def list_versions(
    modelId: str,
    paging: Paging,
    state: State,
) -> Response:
    with state.db.read() as session:
        find_model(session, modelId)
        where = VersionRow.model_id == modelId
        total = session.scalar(select(func.count()).select_from(VersionRow).where(where)) or 0
        rows = session.scalars(
            select(VersionRow)
            .where(where)
            .order_by(VersionRow.created_at, VersionRow.id)
            .limit(paging.limit)
            .offset(paging.offset)
        ).all()
    body = ModelVersionList(versions=[version_view(r) for r in rows], total_count=total)
    return json_response(body)


@router.post(
    "",
    operation_id="createModelVersion",
    summary="Create Model Version",
    status_code=201,
    response_model=ModelVersion,
    openapi_extra=request_body_openapi(ModelVersionRequest),
)
@inline_on_sqlite
def create_version(
    modelId: str,
    request: Request,
    body: VersionBody,
    state: State,
) -> Response:
    require_finite(body.metrics, "metrics")
    row = VersionRow(
        id=new_id("ver"),
        model_id=modelId,
        version=body.version,
        description=body.description,
        status=(body.status or ModelVersionStatus.DRAFT).value,
        artifact_path=body.artifact_path,
        metrics=dict(body.metrics or {}),
        parameters=dict(body.parameters or {}),
        created_at=utcnow(),
        created_by=principal_of(request),
    )
    with state.db.write() as session:
        # One round trip for "does the model exist, and does it have this version already".
        found = session.execute(
            select(ModelRow.name, _existing_version(body.version))
            .where(ModelRow.id == modelId)
            .with_for_update(of=ModelRow)
        ).first()
        if found is None:
            raise NotFound(f"Model {modelId!r} not found.", details={"model_id": modelId})
        model_name, existing = found
        if existing is not None:
            raise Conflict(
                f"Model {model_name!r} already has a version {body.version!r} ({existing}). "
                "Versions are immutable; create a new version string.",
                details={"field": "version", "existing_id": existing},
            )
        insert_row(session, row)
    return json_response(version_view(row), 201)


@router.get(
    "/{versionId}",
    operation_id="getModelVersion",
    summary="Get Model Version",
    response_model=ModelVersion,
)
@inline_on_sqlite
def get_version(
    modelId: str,
    versionId: str,
    state: State,
) -> Response:
    with state.db.read() as session:
        return json_response(version_view(find_version(session, modelId, versionId)))


@router.delete(
    "/{versionId}",
    operation_id="deleteModelVersion",
    summary="Delete Model Version",
    status_code=204,
)
def delete_version(
    modelId: str,
    versionId: str,
    state: State,
) -> Response:
    with state.db.write() as session:
        find_model(session, modelId, lock=True)
        row = find_version(session, modelId, versionId)
        deployments = session.scalars(
            select(DeploymentRow).where(DeploymentRow.model_version_id == versionId)
        ).all()
        for deployment in deployments:
            state.reconcile(deployment)
        refuse_if_deployed(list(deployments), f"version {row.version!r}")
        gone = [d.id for d in deployments]
        session.execute(delete(DeploymentRow).where(DeploymentRow.model_version_id == versionId))
        session.delete(row)
    for deployment_id in gone:
        state.stop_quietly(deployment_id)
    return Response(status_code=204)
