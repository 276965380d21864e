"""The JFrog ML REST API contract: schemas, status enums and the error body.

Server and client both import from here; nothing in this package does I/O.
"""

from jfml_tracking.api.enums import DeploymentStatus, ExperimentStatus, ModelVersionStatus
from jfml_tracking.api.errors import REQUEST_ID_HEADER, ErrorBody, ErrorCode, ErrorEnvelope
from jfml_tracking.api.schemas import (
    Deployment,
    DeploymentList,
    DeploymentRequest,
    DeploymentResources,
    Experiment,
    ExperimentList,
    ExperimentRequest,
    Model,
    ModelList,
    ModelRequest,
    ModelVersion,
    ModelVersionList,
    ModelVersionRequest,
)

API_PREFIX = "/ml/api"
"""Where the API lives under a JFrog platform URL, e.g. ``https://acme.jfrog.io/ml/api``."""

__all__ = [
    "API_PREFIX",
    "REQUEST_ID_HEADER",
    "Deployment",
    "DeploymentList",
    "DeploymentRequest",
    "DeploymentResources",
    "DeploymentStatus",
    "ErrorBody",
    "ErrorCode",
    "ErrorEnvelope",
    "Experiment",
    "ExperimentList",
    "ExperimentRequest",
    "ExperimentStatus",
    "Model",
    "ModelList",
    "ModelRequest",
    "ModelVersion",
    "ModelVersionList",
    "ModelVersionRequest",
    "ModelVersionStatus",
]
