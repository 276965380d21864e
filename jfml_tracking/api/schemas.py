"""Pydantic schemas for every schema of the JFrog ML REST API contract.

One definition serves both sides: the reference server validates requests and serialises
responses with these classes, and the client builds requests and parses responses with them.

Request schemas validate strictly (no silent ``"1"`` -> ``1`` coercion) and ignore unknown
properties, as the contract does not forbid them. Response schemas are lenient: every field but
``id`` is optional, so a newer JFrog ML that omits or adds a field still parses.

``ExperimentRequest`` carries four properties beyond the contract (``status``, ``metrics``,
``created_at``, ``completed_at``). The contract has no update operation for experiments, so a run
is written once, complete, when it ends (see DESIGN.md); the reference server stores them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from jfml_tracking.api.enums import DeploymentStatus, ExperimentStatus, ModelVersionStatus

__all__ = [
    "MAX_DESCRIPTION_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_PARAM_VALUE_LENGTH",
    "Deployment",
    "DeploymentList",
    "DeploymentRequest",
    "DeploymentResources",
    "Experiment",
    "ExperimentList",
    "ExperimentRequest",
    "Model",
    "ModelList",
    "ModelRequest",
    "ModelVersion",
    "ModelVersionList",
    "ModelVersionRequest",
]

MAX_NAME_LENGTH = 256
MAX_DESCRIPTION_LENGTH = 10_000
# MLflow accepts param values up to 6000 characters; leave headroom for other producers.
MAX_PARAM_VALUE_LENGTH = 16_000
MAX_TAG_LENGTH = 256
MAX_TAGS = 100
MAX_ENTRIES = 10_000

Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH)]
Description = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION_LENGTH)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TAG_LENGTH)]
ParamValue = Annotated[str, StringConstraints(max_length=MAX_PARAM_VALUE_LENGTH)]
Metrics = Annotated[dict[Name, float], Field(max_length=MAX_ENTRIES)]
Parameters = Annotated[dict[Name, ParamValue], Field(max_length=MAX_ENTRIES)]


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


# --- models -----------------------------------------------------------------------------------


class ModelRequest(_Request):
    name: Name
    description: Description | None = None
    framework: Annotated[str, StringConstraints(max_length=MAX_TAG_LENGTH)] | None = None
    task_type: Annotated[str, StringConstraints(max_length=MAX_TAG_LENGTH)] | None = None
    tags: Annotated[list[Tag], Field(max_length=MAX_TAGS)] | None = None


class Model(_Response):
    id: str
    name: str | None = None
    description: str | None = None
    framework: str | None = None
    task_type: str | None = None
    tags: list[str] = Field(default_factory=list)
    latest_version: str | None = None
    versions_count: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    created_by: str | None = None


class ModelList(_Response):
    models: list[Model] = Field(default_factory=list)
    total_count: int | None = None


# --- model versions ---------------------------------------------------------------------------


class ModelVersionRequest(_Request):
    version: Name
    description: Description | None = None
    status: ModelVersionStatus | None = None
    artifact_path: Annotated[str, StringConstraints(max_length=4096)] | None = None
    metrics: Metrics | None = None
    parameters: Parameters | None = None


class ModelVersion(_Response):
    id: str
    model_id: str | None = None
    version: str | None = None
    description: str | None = None
    status: ModelVersionStatus | None = None
    artifact_path: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    parameters: dict[str, str] = Field(default_factory=dict)
    created_at: datetime | None = None
    created_by: str | None = None


class ModelVersionList(_Response):
    versions: list[ModelVersion] = Field(default_factory=list)
    total_count: int | None = None


# --- experiments ------------------------------------------------------------------------------


class ExperimentRequest(_Request):
    name: Name
    description: Description | None = None
    model_id: str | None = None
    parameters: Parameters | None = None
    # Extensions beyond the contract; see the module docstring.
    status: ExperimentStatus | None = None
    metrics: Metrics | None = None
    created_at: datetime | None = None
    completed_at: datetime | None = None


class Experiment(_Response):
    id: str
    name: str | None = None
    description: str | None = None
    model_id: str | None = None
    status: ExperimentStatus | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    parameters: dict[str, str] = Field(default_factory=dict)
    created_at: datetime | None = None
    completed_at: datetime | None = None
    created_by: str | None = None


class ExperimentList(_Response):
    experiments: list[Experiment] = Field(default_factory=list)
    total_count: int | None = None


# --- deployments ------------------------------------------------------------------------------


class DeploymentResources(_Request):
    cpu: Annotated[str, StringConstraints(max_length=64)] | None = None
    memory: Annotated[str, StringConstraints(max_length=64)] | None = None
    gpu: Annotated[int, Field(ge=0, le=64)] | None = None


class DeploymentRequest(_Request):
    name: Name
    model_id: Annotated[str, StringConstraints(min_length=1)]
    model_version_id: Annotated[str, StringConstraints(min_length=1)]
    replicas: Annotated[int, Field(ge=1, le=64)] = 1
    resources: DeploymentResources | None = None


class Deployment(_Response):
    id: str
    name: str | None = None
    model_id: str | None = None
    model_version_id: str | None = None
    status: DeploymentStatus | None = None
    endpoint_url: str | None = None
    replicas: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class DeploymentList(_Response):
    deployments: list[Deployment] = Field(default_factory=list)
    total_count: int | None = None
