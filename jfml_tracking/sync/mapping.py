"""MLflow -> JFrog ML mapping: request bodies built from the journal at send time.

Payloads are built when an intent is sent, not when it is enqueued, so they carry the journal's
latest state (e.g. metrics logged after ``log_model``). Values JSON cannot carry (NaN, ±inf) stay
in the journal and are left out, with one warning per process naming them.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jfml_tracking.api import ExperimentRequest, ModelRequest, ModelVersionRequest
from jfml_tracking.api.enums import ExperimentStatus, ModelVersionStatus
from jfml_tracking.api.schemas import MAX_NAME_LENGTH, MAX_PARAM_VALUE_LENGTH

__all__ = [
    "FRAMEWORK_TAG",
    "MODEL_NAME_TAG",
    "TASK_TYPE_TAG",
    "VERSION_STATUS_TAG",
    "experiment_request",
    "model_request",
    "run_status_to_experiment_status",
    "version_request",
]

_logger = logging.getLogger(__name__)

FRAMEWORK_TAG = "jfml.framework"
TASK_TYPE_TAG = "jfml.task_type"
MODEL_NAME_TAG = "jfml.model_name"
VERSION_STATUS_TAG = "jfml.version_status"
# MLflow stores ±inf as ±DBL_MAX (SQL has no infinity).
_DBL_MAX = 1.7976931348623157e308

_RUN_STATUS = {
    "RUNNING": ExperimentStatus.RUNNING,
    "SCHEDULED": ExperimentStatus.RUNNING,
    "FINISHED": ExperimentStatus.COMPLETED,
    "FAILED": ExperimentStatus.FAILED,
    "KILLED": ExperimentStatus.CANCELLED,
}
_FLAVOR_FRAMEWORK = {"sklearn": "scikit-learn", "pytorch": "pytorch", "tensorflow": "tensorflow"}
_non_finite_warned = False


def run_status_to_experiment_status(status: str) -> ExperimentStatus:
    """RUNNING/FINISHED/FAILED/KILLED -> running/completed/failed/cancelled."""
    return _RUN_STATUS.get(status, ExperimentStatus.RUNNING)


def _ms_to_datetime(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc) if ms else None


def _experiment_tags(conn: sqlite3.Connection, experiment_id: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT key, value FROM experiment_tags WHERE experiment_id = ?", (int(experiment_id),)
    ).fetchall()
    return dict(rows)


def _run_tags(conn: sqlite3.Connection, run_id: str) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM tags WHERE run_uuid = ?", (run_id,)))


def _run_params(conn: sqlite3.Connection, run_id: str) -> dict[str, str]:
    rows = conn.execute("SELECT key, value FROM params WHERE run_uuid = ?", (run_id,))
    return {k: v[:MAX_PARAM_VALUE_LENGTH] for k, v in rows}


def _finite_metrics(rows: list[tuple[str, float, int]], owner: str) -> dict[str, float]:
    """Keep finite values; warn once per process about the rest."""
    global _non_finite_warned
    kept, dropped = {}, []
    for key, value, is_nan in rows:
        if is_nan or abs(value) >= _DBL_MAX or math.isinf(value):
            dropped.append(key)
        else:
            kept[key[:MAX_NAME_LENGTH]] = float(value)
    if dropped and not _non_finite_warned:
        _non_finite_warned = True
        _logger.warning(
            "jfml: %s has NaN/infinite metric(s) %s; JSON cannot carry them, so they stay in "
            "the local journal and are left out of what is sent to JFrog ML "
            "(warned once per process).",
            owner,
            sorted(dropped),
        )
    return kept


def _run_metrics(conn: sqlite3.Connection, run_id: str) -> dict[str, float]:
    rows = conn.execute(
        "SELECT key, value, is_nan FROM latest_metrics WHERE run_uuid = ?", (run_id,)
    ).fetchall()
    return _finite_metrics(rows, f"run {run_id}")


def _flavors_of(artifact_location: str) -> list[str]:
    """Flavor names from the logged model's MLmodel file (local artifact roots only)."""
    from mlflow.utils.file_utils import local_file_uri_to_path
    from mlflow.utils.uri import is_local_uri

    if not is_local_uri(artifact_location):
        return []
    path = artifact_location
    if path.startswith("file:"):
        path = local_file_uri_to_path(path)
    mlmodel = Path(path) / "MLmodel"
    try:
        import yaml

        flavors = (yaml.safe_load(mlmodel.read_text()) or {}).get("flavors", {})
    except (OSError, ValueError, ImportError):
        return []
    return [name for name in flavors if name != "python_function"]


def _framework(conn: sqlite3.Connection, experiment_id: str) -> str | None:
    rows = conn.execute(
        "SELECT artifact_location FROM logged_models WHERE experiment_id = ? "
        "ORDER BY creation_timestamp_ms DESC LIMIT 5",
        (int(experiment_id),),
    ).fetchall()
    for (location,) in rows:
        for flavor in _flavors_of(location):
            return _FLAVOR_FRAMEWORK.get(flavor, flavor)
    return None


def _task_type_from_estimator(name: str) -> str | None:
    lowered = name.lower()
    if "classif" in lowered or lowered in {"logisticregression", "svc", "linearsvc"}:
        return "classification"
    if "regress" in lowered or lowered in {"ridge", "lasso", "elasticnet", "svr", "linearsvr"}:
        return "regression"
    if "kmeans" in lowered or "cluster" in lowered or lowered in {"dbscan", "birch"}:
        return "clustering"
    return None


def _task_type(conn: sqlite3.Connection, experiment_id: str) -> str | None:
    rows = conn.execute(
        "SELECT t.key, t.value FROM tags t JOIN runs r ON r.run_uuid = t.run_uuid "
        "WHERE r.experiment_id = ? AND t.key IN (?, 'estimator_name', 'estimator_class') "
        "ORDER BY r.start_time DESC LIMIT 50",
        (int(experiment_id), TASK_TYPE_TAG),
    ).fetchall()
    for key, value in rows:
        if key == TASK_TYPE_TAG:
            return str(value)
    # Meta-estimators (GridSearchCV, Pipeline) name the real estimator in a param.
    rows += conn.execute(
        "SELECT p.key, p.value FROM params p JOIN runs r ON r.run_uuid = p.run_uuid "
        "WHERE r.experiment_id = ? AND p.key IN ('estimator', 'base_estimator') LIMIT 50",
        (int(experiment_id),),
    ).fetchall()
    for _key, value in rows:
        name = str(value).split("(", 1)[0].rsplit(".", 1)[-1].strip()
        task = _task_type_from_estimator(name)
        if task:
            return task
    return None


def model_name(conn: sqlite3.Connection, experiment_id: str) -> str:
    """The JFrog Model name of an experiment: tag ``jfml.model_name`` or the experiment name."""
    row = conn.execute(
        "SELECT name FROM experiments WHERE experiment_id = ?", (int(experiment_id),)
    ).fetchone()
    if row is None:
        raise LookupError(f"experiment {experiment_id} is not in the journal")
    tags = _experiment_tags(conn, experiment_id)
    return (tags.get(MODEL_NAME_TAG) or row[0])[:MAX_NAME_LENGTH]


def model_request(conn: sqlite3.Connection, experiment_id: str) -> ModelRequest:
    """The Model for an MLflow experiment; ``jfml.framework``/``jfml.task_type`` tags win."""
    tags = _experiment_tags(conn, experiment_id)
    framework = tags.get(FRAMEWORK_TAG) or _framework(conn, experiment_id)
    task_type = tags.get(TASK_TYPE_TAG) or _task_type(conn, experiment_id)
    description = tags.get("mlflow.note.content")
    return ModelRequest(
        name=model_name(conn, experiment_id),
        description=description[:10_000] if description else None,
        framework=framework[:256] if framework else None,
        task_type=task_type[:256] if task_type else None,
        tags=["mlflow"],
    )


def run_row(conn: sqlite3.Connection, run_id: str) -> tuple[Any, ...] | None:
    """``(name, status, start_time, end_time, experiment_id, lifecycle_stage)`` of a run."""
    row: tuple[Any, ...] | None = conn.execute(
        "SELECT name, status, start_time, end_time, experiment_id, lifecycle_stage "
        "FROM runs WHERE run_uuid = ?",
        (run_id,),
    ).fetchone()
    return row


def experiment_request(conn: sqlite3.Connection, run_id: str, model_id: str) -> ExperimentRequest:
    """The Experiment for a terminal MLflow run (written once, complete)."""
    row = run_row(conn, run_id)
    if row is None:
        raise LookupError(f"run {run_id} is not in the journal")
    name, status, start_time, end_time, _experiment_id, _stage = row
    tags = _run_tags(conn, run_id)
    note = tags.get("mlflow.note.content")
    reason = tags.get("jfml.termination_reason")
    description = f"MLflow run {run_id}" + (f" ({reason})" if reason else "")
    description += f"\n\n{note}" if note else ""
    return ExperimentRequest(
        name=(name or run_id)[:MAX_NAME_LENGTH],
        description=description[:10_000],
        model_id=model_id,
        parameters=_run_params(conn, run_id),
        status=run_status_to_experiment_status(status),
        metrics=_run_metrics(conn, run_id),
        created_at=_ms_to_datetime(start_time),
        completed_at=_ms_to_datetime(end_time),
    )


def logged_model_row(conn: sqlite3.Connection, model_id: str) -> tuple[Any, ...] | None:
    """``(name, experiment_id, artifact_location, source_run_id, status)`` of a logged model."""
    row: tuple[Any, ...] | None = conn.execute(
        "SELECT name, experiment_id, artifact_location, source_run_id, status "
        "FROM logged_models WHERE model_id = ?",
        (model_id,),
    ).fetchone()
    return row


def _version_status(tags: dict[str, str]) -> ModelVersionStatus:
    value = tags.get(VERSION_STATUS_TAG, "draft").lower()
    try:
        return ModelVersionStatus(value)
    except ValueError:
        return ModelVersionStatus.DRAFT


def _model_metrics(conn: sqlite3.Connection, model_id: str) -> dict[str, float]:
    rows = conn.execute(
        "SELECT metric_name, metric_value, 0 FROM logged_model_metrics WHERE model_id = ? "
        "ORDER BY metric_step, metric_timestamp_ms",
        (model_id,),
    ).fetchall()
    latest = {name: (name, value if value is not None else math.nan, 0) for name, value, _ in rows}
    return _finite_metrics(
        [(n, v, int(math.isnan(v))) for n, v, _ in latest.values()], f"logged model {model_id}"
    )


def version_request(conn: sqlite3.Connection, model_id: str) -> ModelVersionRequest:
    """The ModelVersion for a finalized logged model; ``version`` is the logged model id."""
    row = logged_model_row(conn, model_id)
    if row is None:
        raise LookupError(f"logged model {model_id} is not in the journal")
    name, _experiment_id, artifact_location, source_run_id, _status = row
    params: dict[str, str] = {}
    # The model's own metrics, then the run's last values: MLflow copies a run metric's first
    # point onto the model at log_model time, which the run's final value must win over.
    metrics = _model_metrics(conn, model_id)
    tags: dict[str, str] = {}
    if source_run_id:
        params.update(_run_params(conn, source_run_id))
        metrics.update(_run_metrics(conn, source_run_id))
        tags.update(_run_tags(conn, source_run_id))
    params.update(
        (k, v[:MAX_PARAM_VALUE_LENGTH])
        for k, v in conn.execute(
            "SELECT param_key, param_value FROM logged_model_params WHERE model_id = ?",
            (model_id,),
        )
    )
    tags.update(
        conn.execute(
            "SELECT tag_key, tag_value FROM logged_model_tags WHERE model_id = ?", (model_id,)
        )
    )
    origin = f" from run {source_run_id}" if source_run_id else ""
    return ModelVersionRequest(
        version=model_id,
        description=f"MLflow logged model '{name}'{origin}",
        status=_version_status(tags),
        artifact_path=artifact_location[:4096],
        metrics=metrics,
        parameters=params,
    )


_DESCRIBE = {
    "ensure_model": ("experiment", "SELECT name FROM experiments WHERE experiment_id = ?", int),
    "finish_run": ("run", "SELECT name FROM runs WHERE run_uuid = ?", str),
    "publish_version": ("logged model", "SELECT name FROM logged_models WHERE model_id = ?", str),
}


def describe(conn: sqlite3.Connection, kind: str, local_id: str) -> str:
    """A short human label for an intent's subject, e.g. ``run 'bold-cat-12'``."""
    what = _DESCRIBE.get(kind)
    if what is None:
        return ""
    label, sql, convert = what
    try:
        row = conn.execute(sql, (convert(local_id),)).fetchone()
    except (ValueError, sqlite3.Error):
        row = None
    return f"{label} {row[0]!r}" if row else f"{label} (deleted locally)"
