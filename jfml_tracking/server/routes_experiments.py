"""Experiments: ``/v1/experiments`` and ``/v1/experiments/{experimentId}``.

The contract has no update operation, so a client may write a finished run in one request
with the extension fields of ``ExperimentRequest`` (see DESIGN.md). The rules:

- no ``status``: ``completed`` when ``completed_at`` is given, else ``running``;
- ``created_at`` defaults to now; timestamps without a timezone are taken as UTC;
- ``running`` with a ``completed_at`` is refused; a terminal status without ``completed_at``
  gets now (never earlier than ``created_at``);
- ``completed_at`` earlier than ``created_at`` is refused; metrics must be finite numbers.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from jfml_tracking.api import Experiment, ExperimentList, ExperimentRequest, ExperimentStatus
from jfml_tracking.server.errors import NotFound, Unprocessable
from jfml_tracking.server.params import (
    Paging,
    json_body,
    principal_of,
    request_body_openapi,
    require_finite,
)
from jfml_tracking.server.routes_models import find_model
from jfml_tracking.server.state import State, inline_on_sqlite
from jfml_tracking.server.tables import ExperimentRow, new_id, utcnow
from jfml_tracking.server.views import experiment_view, json_response

__all__ = ["router"]

ExperimentBody = Annotated[ExperimentRequest, Depends(json_body(ExperimentRequest))]

router = APIRouter(prefix="/v1/experiments", tags=["Experiments"])


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _lifecycle(
    body: ExperimentRequest,
) -> tuple[ExperimentStatus, datetime, datetime | None]:
    now = utcnow()
    created_at = _utc(body.created_at) or now
    completed_at = _utc(body.completed_at)
    status = body.status or (
        ExperimentStatus.COMPLETED if completed_at else ExperimentStatus.RUNNING
    )
    if status is ExperimentStatus.RUNNING and completed_at is not None:
        raise Unprocessable(
            "A running experiment cannot have completed_at; send a terminal status "
            "(completed, failed or cancelled) or leave completed_at out.",
            details={"field": "completed_at"},
        )
    if status.is_terminal and completed_at is None:
        completed_at = max(now, created_at)
    if completed_at is not None and completed_at < created_at:
        raise Unprocessable(
            f"completed_at ({completed_at.isoformat()}) is before created_at "
            f"({created_at.isoformat()}).",
            details={"field": "completed_at"},
        )
    return status, created_at, completed_at


@router.get(
    "",
    operation_id="listExperiments",
    summary="List Experiments",
    response_model=ExperimentList,
)
@inline_on_sqlite
def list_experiments(
    paging: Paging,
    state: State,
    model_id: Annotated[str | None, Query(description="Filter by model ID")] = None,
) -> Response:
    query = select(ExperimentRow)
    count = select(func.count()).select_from(ExperimentRow)
    if model_id is not None:
        query = query.where(ExperimentRow.model_id == model_id)
        count = count.where(ExperimentRow.model_id == model_id)
    with state.db.read() as session:
        total = session.scalar(count) or 0
        rows = session.scalars(
            query.order_by(ExperimentRow.created_at, ExperimentRow.id)
            .limit(paging.limit)
            .offset(paging.offset)
        ).all()
    body = ExperimentList(experiments=[experiment_view(r) for r in rows], total_count=total)
    return json_response(body)


@router.post(
    "",
    operation_id="createExperiment",
    summary="Create Experiment",
    status_code=201,
    response_model=Experiment,
    openapi_extra=request_body_openapi(ExperimentRequest),
)
@inline_on_sqlite
def create_experiment(
    request: Request,
    body: ExperimentBody,
    state: State,
) -> Response:
    require_finite(body.metrics, "metrics")
    status, created_at, completed_at = _lifecycle(body)
    row = ExperimentRow(
        id=new_id("exp"),
        name=body.name,
        description=body.description,
        model_id=body.model_id,
        status=status.value,
        metrics=dict(body.metrics or {}),
        parameters=dict(body.parameters or {}),
        created_at=created_at,
        completed_at=completed_at,
        created_by=principal_of(request),
    )
    with state.db.write() as session:
        if body.model_id is not None:
            find_model(session, body.model_id, lock=True)
        session.add(row)
    return json_response(experiment_view(row), 201)


def _find(session: Session, experiment_id: str) -> ExperimentRow:
    row = session.get(ExperimentRow, experiment_id)
    if row is None:
        raise NotFound(
            f"Experiment {experiment_id!r} not found.", details={"experiment_id": experiment_id}
        )
    return row


@router.get(
    "/{experimentId}",
    operation_id="getExperiment",
    summary="Get Experiment",
    response_model=Experiment,
)
@inline_on_sqlite
def get_experiment(
    experimentId: str,
    state: State,
) -> Response:
    with state.db.read() as session:
        return json_response(experiment_view(_find(session, experimentId)))


@router.delete(
    "/{experimentId}",
    operation_id="deleteExperiment",
    summary="Delete Experiment",
    status_code=204,
)
@inline_on_sqlite
def delete_experiment(
    experimentId: str,
    state: State,
) -> Response:
    with state.db.write() as session:
        session.delete(_find(session, experimentId))
    return Response(status_code=204)
