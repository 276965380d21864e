"""Checks on a version's ``artifact_path`` that fail fast, before any worker starts."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

__all__ = ["ArtifactProblem", "check_artifact"]


class ArtifactProblem(Exception):
    """The artifact cannot be served; ``str()`` names the problem and the fix."""


def check_artifact(artifact_path: str | None) -> str:
    """The model URI a worker should load, or raise ``ArtifactProblem``.

    Local paths and ``file:`` URIs are checked here (exists, holds an ``MLmodel`` file); any
    other scheme is handed to MLflow in the worker, which reports its own failure.
    """
    if not artifact_path:
        raise ArtifactProblem(
            "the model version has no artifact_path; register a version whose artifact_path "
            "is an MLflow model directory"
        )
    local = _local_path(artifact_path)
    if local is None:
        return artifact_path
    if not local.exists():
        raise ArtifactProblem(f"artifact not found: {artifact_path!r} does not exist")
    if local.is_dir() and not (local / "MLmodel").is_file():
        raise ArtifactProblem(
            f"not an MLflow model: {artifact_path!r} has no MLmodel file; "
            "log the model with mlflow.<flavor>.log_model and register that artifact"
        )
    if not local.is_dir():
        raise ArtifactProblem(
            f"not an MLflow model: {artifact_path!r} is a file, not an MLflow model directory"
        )
    return str(local.resolve())  # workers run in their own directory


def _local_path(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            return None
        return Path(unquote(parsed.path))
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and uri[1:3] in (":\\", ":/")):
        return Path(uri).expanduser()
    return None
