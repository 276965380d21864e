"""Record files (a checkpoint, a saved model directory) as a LoggedModel of a run.

A LoggedModel whose ``source_run_id`` is the run becomes a JFrog ML model version when the run
ends (the tracking store does that mapping); its artifact location is the version's
``artifact_path``.
"""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import LoggedModel

__all__ = ["MAX_MODEL_NAME_LENGTH", "default_run_name", "log_model_files", "safe_model_name"]

# MLflow rejects these characters in LoggedModel names; JFrog ML accepts a subset of the rest.
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]+")
MAX_MODEL_NAME_LENGTH = 100


def default_run_name(prefix: str) -> str:
    """``<prefix>-<UTC timestamp>-<4 hex>``: readable, and distinct for runs in the same second."""
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"


def safe_model_name(name: str, default: str = "model") -> str:
    """``name`` reduced to letters, digits, ``-`` and ``_`` (runs of others become ``-``)."""
    cleaned = _UNSAFE.sub("-", name).strip("-")[:MAX_MODEL_NAME_LENGTH]
    return cleaned or default


def log_model_files(
    client: MlflowClient,
    *,
    run_id: str,
    experiment_id: str,
    path: str | Path,
    name: str,
    model_type: str,
    tags: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> LoggedModel:
    """Upload ``path`` (a file or a directory) as a READY LoggedModel produced by ``run_id``."""
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    source = Path(path)
    model = client.create_logged_model(
        experiment_id,
        name=safe_model_name(name),
        source_run_id=run_id,
        tags=tags,
        params=params,
        model_type=model_type,
    )
    try:
        repo = get_artifact_repository(model.artifact_location)
        if source.is_dir():
            repo.log_artifacts(str(source))
        else:
            repo.log_artifact(str(source))
    except Exception:
        client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED)
        raise
    finalized = client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    # Link the model to the run as an output, as mlflow.<flavor>.log_model does.
    client.log_outputs(run_id, [LoggedModelOutput(model.model_id, step=0)])
    return finalized
