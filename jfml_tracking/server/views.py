"""Rows to contract schemas to JSON responses; absent values are omitted, never ``null``."""

from __future__ import annotations

from pydantic import BaseModel
from starlette.responses import Response

from jfml_tracking.api import Deployment, Experiment, Model, ModelVersion
from jfml_tracking.server.tables import DeploymentRow, ExperimentRow, ModelRow, VersionRow

__all__ = ["deployment_view", "experiment_view", "json_response", "model_view", "version_view"]


def json_response(body: BaseModel, status_code: int = 200) -> Response:
    return Response(
        body.model_dump_json(exclude_none=True),
        status_code=status_code,
        media_type="application/json",
    )


def model_view(row: ModelRow, versions_count: int, latest_version: str | None) -> Model:
    return Model(
        id=row.id,
        name=row.name,
        description=row.description,
        framework=row.framework,
        task_type=row.task_type,
        tags=list(row.tags or []),
        latest_version=latest_version,
        versions_count=versions_count,
        created_at=row.created_at,
        updated_at=row.updated_at,
        created_by=row.created_by,
    )


def version_view(row: VersionRow) -> ModelVersion:
    return ModelVersion(
        id=row.id,
        model_id=row.model_id,
        version=row.version,
        description=row.description,
        status=row.status,  # type: ignore[arg-type]
        artifact_path=row.artifact_path,
        metrics=dict(row.metrics or {}),
        parameters=dict(row.parameters or {}),
        created_at=row.created_at,
        created_by=row.created_by,
    )


def experiment_view(row: ExperimentRow) -> Experiment:
    return Experiment(
        id=row.id,
        name=row.name,
        description=row.description,
        model_id=row.model_id,
        status=row.status,  # type: ignore[arg-type]
        metrics=dict(row.metrics or {}),
        parameters=dict(row.parameters or {}),
        created_at=row.created_at,
        completed_at=row.completed_at,
        created_by=row.created_by,
    )


def deployment_view(row: DeploymentRow) -> Deployment:
    extensions = {
        # Beyond the contract (allowed: it does not forbid extra properties).
        "resources": dict(row.resources or {}) or None,
        "status_reason": row.status_reason,
        "created_by": row.created_by,
    }
    return Deployment(
        id=row.id,
        name=row.name,
        model_id=row.model_id,
        model_version_id=row.model_version_id,
        status=row.status,  # type: ignore[arg-type]
        endpoint_url=row.endpoint_url,
        replicas=row.replicas,
        created_at=row.created_at,
        updated_at=row.updated_at,
        **extensions,
    )
