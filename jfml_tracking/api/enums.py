"""Status enums of the JFrog ML REST API, with the MLflow vocabulary they map from."""

from __future__ import annotations

from enum import Enum

__all__ = ["DeploymentStatus", "ExperimentStatus", "ModelVersionStatus"]


class _StrEnum(str, Enum):
    def __str__(self) -> str:
        return str(self.value)


class ModelVersionStatus(_StrEnum):
    """Lifecycle of a model version; MLflow stages None/Staging/Production/Archived map here."""

    DRAFT = "draft"
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"


class ExperimentStatus(_StrEnum):
    """Lifecycle of an experiment; MLflow run statuses map here."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self is not ExperimentStatus.RUNNING


class DeploymentStatus(_StrEnum):
    """Deployment lifecycle: ``deploying``, then ``active`` or ``failed``; lastly ``stopped``."""

    DEPLOYING = "deploying"
    ACTIVE = "active"
    STOPPED = "stopped"
    FAILED = "failed"
