"""Remote entities made elsewhere, pulled into the journal so MLflow reads (and the UI) show them.

A JFrog ML model that no local experiment maps to becomes a local MLflow experiment of the same
name (tagged ``jfml.remote_id``; new runs may be logged to it: they sync to that model). A JFrog
ML experiment that no local run maps to becomes a local, read-only MLflow run (tagged
``jfml.remote_id`` and ``jfml.read_only``) with its parameters, metrics, status and times.

Pulls happen on reads (``search_experiments``, ``search_runs``, a ``get_run`` miss), at most
once per ``JFML_REMOTE_CACHE_SECONDS`` (default 30), with a short timeout and no retries; a
failure is one warning and the local data is served. Never on the write path.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from jfml_tracking.sync import outbox

__all__ = ["RemoteMirror"]

_logger = logging.getLogger(__name__)
_PULL_TIMEOUT = 5.0
_DEFAULT_TTL = 30.0
REMOTE_ID_TAG = "jfml.remote_id"
READ_ONLY_TAG = "jfml.read_only"
_STATUS = {"running": "RUNNING", "completed": "FINISHED", "failed": "FAILED", "cancelled": "KILLED"}


def _ttl() -> float:
    try:
        return float(os.environ.get("JFML_REMOTE_CACHE_SECONDS", _DEFAULT_TTL))
    except ValueError:
        return _DEFAULT_TTL


def _ms(value: Any) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None


class RemoteMirror:
    """Pulls a store's remote models and experiments into its journal, with a short cache."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._last = 0.0
        self._warned = False

    def refresh(self, *, force: bool = False) -> None:
        """Pull if the cache is stale (or ``force``); never raises."""
        if self._store.offline_reason or self._store.target.settings is None:
            return
        with self._lock:
            if not force and time.monotonic() - self._last < _ttl():
                return
            self._last = time.monotonic()
            try:
                self._pull()
            except Exception as exc:
                if not self._warned:
                    self._warned = True
                    _logger.warning(
                        "jfml: could not list JFrog ML models/experiments (%s); showing the "
                        "local journal only.",
                        exc,
                    )

    def _client(self) -> Any:
        from jfml_tracking.client import JFrogMLClient
        from jfml_tracking.config import NO_RETRY

        settings = self._store.target.settings.replace(timeout=_PULL_TIMEOUT, retry=NO_RETRY)
        return JFrogMLClient(settings)

    def _pull(self) -> None:
        with self._client() as client:
            models = list(client.iter_models())
            experiments = list(client.iter_experiments())
        by_model: dict[str, list[Any]] = {}
        for experiment in experiments:
            by_model.setdefault(str(experiment.model_id), []).append(experiment)
        for model in models:
            experiment_id = self._local_experiment(model)
            if experiment_id is None:
                continue
            for experiment in by_model.get(str(model.id), []):
                self._mirror_run(experiment_id, experiment)

    def _local_experiment(self, model: Any) -> str | None:
        journal = self._store.journal
        with journal.read() as conn:
            local = outbox.local_id_for(conn, "model", str(model.id))
            if local is not None:
                return local
            row = conn.execute(
                "SELECT experiment_id FROM experiments WHERE name = ?", (model.name,)
            ).fetchone()
        origin = "local"
        if row is not None:
            local = str(row[0])  # same name: our ensure_model would adopt this model anyway
        else:
            local = self._store.create_experiment(str(model.name), tags=_experiment_tags(model))
            origin = "remote"
        with journal.transaction() as conn:
            outbox.set_remote_id(conn, "model", local, str(model.id), origin=origin)
        return local

    def _mirror_run(self, experiment_id: str, experiment: Any) -> None:
        journal = self._store.journal
        with journal.read() as conn:
            if outbox.local_id_for(conn, "experiment", str(experiment.id)) is not None:
                return
        description = experiment.description or ""
        if description.startswith("MLflow run "):
            run_id = description.split()[2]
            with journal.transaction() as conn:
                if conn.execute("SELECT 1 FROM runs WHERE run_uuid = ?", (run_id,)).fetchone():
                    # Ours, sent by a worker that has not recorded it yet.
                    outbox.set_remote_id(conn, "experiment", run_id, str(experiment.id))
                    return
        self._insert_run(experiment_id, experiment)

    def _insert_run(self, experiment_id: str, experiment: Any) -> None:
        from mlflow.entities import RunTag
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        start = _ms(experiment.created_at) or int(time.time() * 1000)
        tags = [
            RunTag(REMOTE_ID_TAG, str(experiment.id)),
            RunTag(READ_ONLY_TAG, "true"),
            RunTag("mlflow.user", str(experiment.created_by or "jfrog-ml")),
        ]
        # SqlAlchemyStore.create_run itself: the store's own override would record this process
        # as the run's owner, and a dead owner's run gets sent as failed.
        run = SqlAlchemyStore.create_run(
            self._store, experiment_id, experiment.created_by, start, tags, experiment.name
        )
        run_id = run.info.run_id
        status = _STATUS.get(str(experiment.status or "completed"), "FINISHED")
        end = _ms(experiment.completed_at)
        with self._store.journal.transaction() as conn:
            conn.execute(
                "UPDATE runs SET status = ?, end_time = ? WHERE run_uuid = ?",
                (status, end, run_id),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
                [(k, str(v)[:8000], run_id) for k, v in (experiment.parameters or {}).items()],
            )
            rows = [
                (k, float(v), end or start, run_id) for k, v in (experiment.metrics or {}).items()
            ]
            conn.executemany(
                "INSERT OR IGNORE INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
                "VALUES (?, ?, ?, ?, 0, 0)",
                rows,
            )
            conn.executemany(
                "INSERT OR IGNORE INTO latest_metrics (key, value, timestamp, run_uuid, step, "
                "is_nan) VALUES (?, ?, ?, ?, 0, 0)",
                rows,
            )
            outbox.set_remote_id(conn, "experiment", run_id, str(experiment.id), origin="remote")


def _experiment_tags(model: Any) -> list[Any]:
    from mlflow.entities import ExperimentTag

    tags = [ExperimentTag(REMOTE_ID_TAG, str(model.id))]
    if model.description:
        tags.append(ExperimentTag("mlflow.note.content", str(model.description)))
    if model.framework:
        tags.append(ExperimentTag("jfml.framework", str(model.framework)))
    if model.task_type:
        tags.append(ExperimentTag("jfml.task_type", str(model.task_type)))
    return tags
