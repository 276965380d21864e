"""Models: ``/v1/models`` and ``/v1/models/{modelId}``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.responses import Response

from jfml_tracking.api import DeploymentStatus, Model, ModelList, ModelRequest
from jfml_tracking.server.errors import Conflict, NotFound
from jfml_tracking.server.params import (
    Paging,
    json_body,
    principal_of,
    request_body_openapi,
)
from jfml_tracking.server.state import State, inline_on_sqlite
from jfml_tracking.server.tables import (
    DeploymentRow,
    ExperimentRow,
    ModelRow,
    VersionRow,
    insert_row,
    later_than,
    new_id,
    utcnow,
)
from jfml_tracking.server.views import json_response, model_view

__all__ = ["find_model", "router"]

ModelBody = Annotated[ModelRequest, Depends(json_body(ModelRequest))]

router = APIRouter(prefix="/v1/models", tags=["Models"])

BLOCKING_STATUSES = (DeploymentStatus.DEPLOYING.value, DeploymentStatus.ACTIVE.value)

_versions_count = (
    select(func.count())
    .where(VersionRow.model_id == ModelRow.id)
    .correlate(ModelRow)
    .scalar_subquery()
)
_latest_version = (
    select(VersionRow.version)
    .where(VersionRow.model_id == ModelRow.id)
    .order_by(VersionRow.created_at.desc(), VersionRow.id.desc())
    .limit(1)
    .correlate(ModelRow)
    .scalar_subquery()
)


def find_model(session: Session, model_id: str, *, lock: bool = False) -> ModelRow:
    """The model, or a 404 naming it. ``lock`` takes its row lock (PostgreSQL)."""
    query = select(ModelRow).where(ModelRow.id == model_id)
    if lock:
        query = query.with_for_update()
    row = session.scalars(query).first()
    if row is None:
        raise NotFound(f"Model {model_id!r} not found.", details={"model_id": model_id})
    return row


def _model_with_stats(session: Session, model_id: str) -> Model:
    result = session.execute(
        select(ModelRow, _versions_count, _latest_version).where(ModelRow.id == model_id)
    ).first()
    if result is None:
        raise NotFound(f"Model {model_id!r} not found.", details={"model_id": model_id})
    return model_view(*result)


def _name_taken(session: Session, name: str, *, except_id: str | None = None) -> None:
    existing = session.scalars(select(ModelRow.id).where(ModelRow.name == name)).first()
    if existing is not None and existing != except_id:
        raise Conflict(
            f"A model named {name!r} already exists ({existing}). Choose another name, "
            "or use the existing model.",
            details={"field": "name", "existing_id": existing},
        )


@router.get("", operation_id="listModels", summary="List Models", response_model=ModelList)
@inline_on_sqlite
def list_models(paging: Paging, state: State) -> Response:
    with state.db.read() as session:
        total = session.scalar(select(func.count()).select_from(ModelRow)) or 0
        rows = session.execute(
            select(ModelRow, _versions_count, _latest_version)
            .order_by(ModelRow.created_at, ModelRow.id)
            .limit(paging.limit)
            .offset(paging.offset)
        ).all()
    return json_response(ModelList(models=[model_view(*r) for r in rows], total_count=total))


@router.post(
    "",
    operation_id="createModel",
    summary="Create Model",
    status_code=201,
    response_model=Model,
    openapi_extra=request_body_openapi(ModelRequest),
)
@inline_on_sqlite
def create_model(
    request: Request,
    body: ModelBody,
    state: State,
) -> Response:
    now = utcnow()
    row = ModelRow(
        id=new_id("mdl"),
        name=body.name,
        description=body.description,
        framework=body.framework,
        task_type=body.task_type,
        tags=list(body.tags or []),
        created_at=now,
        updated_at=now,
        created_by=principal_of(request),
    )
    try:
        with state.db.write() as session:
            _name_taken(session, body.name)
            insert_row(session, row)
    except IntegrityError:
        # A concurrent writer (PostgreSQL) took the name after our check: same 409 as theirs.
        with state.db.read() as session:
            _name_taken(session, body.name)
        raise
    return json_response(model_view(row, 0, None), 201)


@router.get("/{modelId}", operation_id="getModel", summary="Get Model", response_model=Model)
@inline_on_sqlite
def get_model(modelId: str, state: State) -> Response:
    with state.db.read() as session:
        return json_response(_model_with_stats(session, modelId))


@router.put(
    "/{modelId}",
    operation_id="updateModel",
    summary="Update Model",
    response_model=Model,
    openapi_extra=request_body_openapi(ModelRequest),
)
@inline_on_sqlite
def update_model(
    modelId: str,
    body: ModelBody,
    state: State,
) -> Response:
    """Fields present in the body replace stored ones; absent fields are kept."""
    with state.db.write() as session:
        row = find_model(session, modelId, lock=True)
        if body.name != row.name:
            _name_taken(session, body.name, except_id=row.id)
        row.name = body.name
        sent: dict[str, Any] = {f: getattr(body, f) for f in body.model_fields_set}
        for field in ("description", "framework", "task_type"):
            if field in sent:
                setattr(row, field, sent[field])
        if "tags" in sent:
            row.tags = list(sent["tags"] or [])
        row.updated_at = later_than(row.updated_at)
        session.flush()
        view = _model_with_stats(session, modelId)
    return json_response(view)


@router.delete("/{modelId}", operation_id="deleteModel", summary="Delete Model", status_code=204)
def delete_model(modelId: str, state: State) -> Response:
    """Deletes the model with its versions, experiments and stopped/failed deployments."""
    with state.db.write() as session:
        row = find_model(session, modelId, lock=True)
        deployments = session.scalars(
            select(DeploymentRow).where(DeploymentRow.model_id == modelId)
        ).all()
        for deployment in deployments:
            state.reconcile(deployment)
        refuse_if_deployed(list(deployments), f"model {row.name!r}")
        gone = [d.id for d in deployments]
        session.execute(delete(DeploymentRow).where(DeploymentRow.model_id == modelId))
        session.execute(delete(ExperimentRow).where(ExperimentRow.model_id == modelId))
        session.execute(delete(VersionRow).where(VersionRow.model_id == modelId))
        session.delete(row)
    for deployment_id in gone:
        state.stop_quietly(deployment_id)
    return Response(status_code=204)


def refuse_if_deployed(deployments: list[DeploymentRow], what: str) -> None:
    """409 naming the first deployment that still serves ``what``."""
    for deployment in deployments:
        if deployment.status in BLOCKING_STATUSES:
            raise Conflict(
                f"Cannot delete {what}: deployment {deployment.name!r} ({deployment.id}) "
                f"is {deployment.status} and uses it. Delete the deployment first.",
                details={"deployment_id": deployment.id, "deployment_name": deployment.name},
            )
