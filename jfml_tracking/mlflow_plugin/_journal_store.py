"""``JFrogMLTrackingStore``: MLflow's SqlAlchemyStore on the journal, plus the lean write path,
the outbox hooks and the background syncer.

Imported lazily by :func:`jfml_tracking.mlflow_plugin.tracking_store.store_from_uri`: this module
imports ``mlflow.store.tracking.sqlalchemy_store`` at top level, which a plugin's entry-point
module must not do.
"""

from __future__ import annotations

import logging
import operator
import sqlite3
import threading
import time
from typing import Any

from mlflow.entities import LoggedModelStatus, RunInfo, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
from mlflow.utils.uri import append_to_uri_path, resolve_uri_if_local
from mlflow.utils.validation import (
    _validate_batch_log_limits,
    _validate_param,
    _validate_param_keys_unique,
    _validate_run_id,
    _validate_tag,
)

from jfml_tracking import _once
from jfml_tracking.mlflow_plugin import _exit
from jfml_tracking.mlflow_plugin._fastpath import FastPath, MetricValidator
from jfml_tracking.mlflow_plugin._remote import RemoteMirror
from jfml_tracking.sync import engine, outbox, owners
from jfml_tracking.sync.journal import Journal, create_journal_file, install_sqlalchemy_engine
from jfml_tracking.sync.target import Target, commit_interval

__all__ = ["JFrogMLTrackingStore"]

_logger = logging.getLogger(__name__)
_TERMINAL = {"FINISHED", "FAILED", "KILLED"}
_FOLD_INTERVAL = 1.0
# Metrics linked to a logged model or dataset go through SqlAlchemyStore (logged_model_metrics).
_MODEL_FIELDS = operator.attrgetter("model_id", "dataset_name")
_NO_MODEL = {(None, None)}
_FOLD_BATCH = 50_000


def warn_once(key: str, message: str, *args: Any) -> None:
    _once.warn_once(_logger, f"tracking:{key}", message, *args)


def _upgrade_if_older(db_uri: str) -> None:
    """Migrate a journal written by an older MLflow to this MLflow's schema (it is ours)."""
    from mlflow.store.db import utils as db_utils

    engine_ = SqlAlchemyStore._engine_map[db_uri]
    if db_utils._get_schema_version(engine_) != db_utils._get_latest_schema_revision():
        _logger.warning("jfml: upgrading the journal %s to this MLflow's schema", db_uri)
        db_utils._upgrade_db(engine_)


class JFrogMLTrackingStore(SqlAlchemyStore):  # type: ignore[misc]
    """The tracking store behind ``jfml://`` URIs: journal first, JFrog ML in the background.

    Reads are MLflow's SqlAlchemyStore over the journal (plus remote entities made elsewhere,
    see :mod:`jfml_tracking.mlflow_plugin._remote`). Metrics, params and tags take the lean path;
    run ends and finalized logged models enqueue sync intents in the same transaction.
    """

    def __init__(
        self, target: Target, artifact_uri: str | None = None, *, offline_reason: str = ""
    ):
        self.target = target
        path = target.journal_path
        artifact_root = artifact_uri or target.artifact_root
        create_journal_file(path, append_to_uri_path(resolve_uri_if_local(artifact_root), "0"))
        db_uri = f"sqlite:///{path}"
        install_sqlalchemy_engine(SqlAlchemyStore, db_uri)
        _upgrade_if_older(db_uri)
        super().__init__(db_uri, artifact_root)
        self.journal = Journal(path)
        self.journal.set_meta("tracking_uri", target.tracking_uri)
        self.journal.set_meta("api_url", target.api_url)
        self._fast = FastPath(self.journal, commit_interval=commit_interval())
        self._validator = MetricValidator()
        self._folder_stop = threading.Event()
        threading.Thread(target=self._fold_loop, name="jfml-fold", daemon=True).start()
        self._offline_reason = offline_reason or ("JFML_MODE=offline" if target.offline else "")
        self._syncer: engine.BackgroundSyncer | None = None
        self._remote = RemoteMirror(self)
        if not self._offline_reason:
            self._syncer = engine.syncer_for(self.journal, self._make_client)
        _exit.register(self)

    def __repr__(self) -> str:
        journal = str(self.journal.path)
        return f"JFrogMLTrackingStore({self.target.tracking_uri!r}, journal={journal!r})"

    # --- sync plumbing ----------------------------------------------------------------------

    def _make_client(self) -> Any:
        from jfml_tracking.client import JFrogMLClient

        return JFrogMLClient(self.target.settings)

    @property
    def offline_reason(self) -> str:
        """Why nothing is sent from this process ('' when online)."""
        return self._offline_reason

    def flush(self, timeout: float = 10.0) -> int:
        """Commit queued metric points, then wait up to ``timeout`` s for pending items to
        reach JFrog ML; returns how many remain."""
        self._fast.commit_pending()
        if self._syncer is None:
            return len(outbox.pending(self.journal))
        return self._syncer.flush(timeout)

    def _fold_loop(self) -> None:
        # Fold logged points into MLflow's metrics table when writes pause, so that bursts of
        # logging never wait on it; reads fold whatever is left first anyway.
        while not self._folder_stop.wait(_FOLD_INTERVAL):
            fast = self._fast
            if fast.last_write > fast.last_fold and time.monotonic() - fast.last_write > 0.5:
                try:
                    fast.fold(max_rows=_FOLD_BATCH)
                except Exception:
                    _logger.debug("jfml: background fold failed", exc_info=True)

    def close(self) -> None:
        """Close the journal connections (the store is unusable afterwards)."""
        self._folder_stop.set()
        self._fast.stop()
        self.journal.close()
        self.engine.dispose()
        SqlAlchemyStore._engine_map.pop(self.db_uri, None)

    def _nudge(self) -> None:
        if self._syncer is not None:
            self._syncer.nudge()

    # --- hot path ---------------------------------------------------------------------------

    def log_metric(self, run_id: str, metric: Any) -> None:
        if metric.model_id is not None or metric.dataset_name is not None:
            self._fast.fold()  # SqlAlchemyStore writes `metrics` itself; keep the order
            return super().log_metric(run_id, metric)
        self._validator.check((metric,))
        self._fast.write_metric(run_id, metric)

    def log_param(self, run_id: str, param: Any) -> None:
        param = _validate_param(param.key, param.value)  # may truncate, as MLflow does
        self._fast.write(run_id, params=[param])

    def set_tag(self, run_id: str, tag: Any) -> None:
        tag = _validate_tag(tag.key, tag.value)
        self._fast.write(run_id, tags=[tag])

    def log_batch(self, run_id: str, metrics: Any, params: Any, tags: Any) -> None:
        if metrics and set(map(_MODEL_FIELDS, metrics)) != _NO_MODEL:
            self._fast.fold()  # SqlAlchemyStore writes `metrics` itself; keep the order
            return super().log_batch(run_id, metrics, params, tags)
        _validate_run_id(run_id)
        points = self._fast.points(metrics)
        self._validator.check_points(points)
        params = [
            _validate_param(p.key, p.value, path=f"params[{i}]") for i, p in enumerate(params)
        ]
        tags = [_validate_tag(t.key, t.value, path=f"tags[{i}]") for i, t in enumerate(tags)]
        _validate_batch_log_limits(metrics, params, tags)
        _validate_param_keys_unique(params)
        self._fast.write(run_id, points, params, tags)

    # --- runs -------------------------------------------------------------------------------

    def create_run(self, experiment_id, user_id, start_time, tags, run_name):  # type: ignore[no-untyped-def]
        run = super().create_run(experiment_id, user_id, start_time, tags, run_name)
        owners.record(self.journal, run.info.run_id)
        return run

    def update_run_info(self, run_id, run_status, end_time, run_name):  # type: ignore[no-untyped-def]
        status = RunStatus.to_string(run_status) if run_status is not None else None
        with self.journal.transaction() as conn:
            self._fast.commit_pending(conn)
            self._fast.check_writable(conn, run_id)
            conn.execute(
                "UPDATE runs SET status = COALESCE(?, status), end_time = COALESCE(?, end_time), "
                "name = COALESCE(?, name) WHERE run_uuid = ?",
                (status, end_time, run_name or None, run_id),
            )
            if run_name:
                conn.execute(
                    "INSERT INTO tags (key, value, run_uuid) VALUES ('mlflow.runName', ?, ?) "
                    "ON CONFLICT (key, run_uuid) DO UPDATE SET value = excluded.value",
                    (run_name, run_id),
                )
            if status in _TERMINAL:
                self._enqueue_finish(conn, run_id)
            row = conn.execute(
                "SELECT experiment_id, user_id, status, start_time, end_time, lifecycle_stage, "
                "artifact_uri, name FROM runs WHERE run_uuid = ?",
                (run_id,),
            ).fetchone()
        if status in _TERMINAL:
            self._nudge()
        return RunInfo(
            run_id=run_id,
            experiment_id=str(row[0]),
            user_id=row[1],
            status=row[2],
            start_time=row[3],
            end_time=row[4],
            lifecycle_stage=row[5],
            artifact_uri=row[6],
            run_name=row[7],
        )

    def _enqueue_finish(self, conn: sqlite3.Connection, run_id: str) -> None:
        experiment_id = conn.execute(
            "SELECT experiment_id FROM runs WHERE run_uuid = ?", (run_id,)
        ).fetchone()[0]
        outbox.enqueue(conn, outbox.ENSURE_MODEL, str(experiment_id))
        done = conn.execute(
            "SELECT state FROM jfml_outbox WHERE kind = ? AND local_id = ?",
            (outbox.FINISH_RUN, run_id),
        ).fetchone()
        if done is not None and done[0] == "done":
            warn_once(
                "resumed-run",
                "jfml: run %s was already sent to JFrog ML when it ended before; the contract "
                "cannot update an experiment, so later changes stay in the local journal only.",
                run_id,
            )
        outbox.enqueue(conn, outbox.FINISH_RUN, run_id)

    def delete_run(self, run_id: str) -> None:
        warn_once(
            "soft-delete",
            "jfml: deleting in MLflow is a local soft delete; nothing is deleted in JFrog ML.",
        )
        super().delete_run(run_id)
        self._fast.forget(run_id)

    def restore_run(self, run_id: str) -> None:
        super().restore_run(run_id)
        self._fast.forget(run_id)

    def delete_experiment(self, experiment_id: str) -> None:
        warn_once(
            "soft-delete",
            "jfml: deleting in MLflow is a local soft delete; nothing is deleted in JFrog ML.",
        )
        super().delete_experiment(experiment_id)
        with self._fast._lock:
            self._fast._active.clear()

    def restore_experiment(self, experiment_id: str) -> None:
        super().restore_experiment(experiment_id)
        with self._fast._lock:
            self._fast._active.clear()

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        with self.journal.read() as conn:
            sent = outbox.remote_id(conn, "model", str(experiment_id))
        if sent:
            warn_once(
                "rename",
                "jfml: experiment %s is already JFrog ML model %s; renaming it renames the "
                "MLflow experiment only (the model keeps its name).",
                experiment_id,
                sent,
            )
        super().rename_experiment(experiment_id, new_name)

    # --- reads of metrics: fold the metric log first ----------------------------------------

    def get_run(self, run_id: str) -> Any:
        self._fast.fold()
        try:
            return super().get_run(run_id)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST" or not self._remote_enabled:
                raise
        self._remote.refresh(force=True)
        return super().get_run(run_id)

    def get_metric_history(self, *args: Any, **kwargs: Any) -> Any:
        self._fast.fold()
        return super().get_metric_history(*args, **kwargs)

    def get_metric_history_bulk(self, *args: Any, **kwargs: Any) -> Any:
        self._fast.fold()
        return super().get_metric_history_bulk(*args, **kwargs)

    def get_max_step_for_metric(self, *args: Any, **kwargs: Any) -> Any:
        self._fast.fold()
        return super().get_max_step_for_metric(*args, **kwargs)

    def get_metric_history_bulk_interval_from_steps(self, *args: Any, **kwargs: Any) -> Any:
        self._fast.fold()
        return super().get_metric_history_bulk_interval_from_steps(*args, **kwargs)

    def get_metric_history_bulk_interval(self, *args: Any, **kwargs: Any) -> Any:
        self._fast.fold()
        return super().get_metric_history_bulk_interval(*args, **kwargs)

    def _hard_delete_run(self, run_id: str) -> None:
        self._fast.fold()
        super()._hard_delete_run(run_id)

    # --- reads: remote entities made elsewhere --------------------------------------------

    def search_experiments(self, *args: Any, **kwargs: Any) -> Any:
        self._remote.refresh()
        return super().search_experiments(*args, **kwargs)

    def _search_runs(self, *args: Any, **kwargs: Any) -> Any:
        self._remote.refresh()
        self._fast.fold()
        return super()._search_runs(*args, **kwargs)

    @property
    def _remote_enabled(self) -> bool:
        return not self._offline_reason and self.target.settings is not None

    # --- logged models ----------------------------------------------------------------------

    def finalize_logged_model(self, model_id: str, status: LoggedModelStatus) -> Any:
        model = self.get_logged_model(model_id)
        with self.journal.transaction() as conn:
            self._fast.commit_pending(conn)
            conn.execute(
                "UPDATE logged_models SET status = ?, last_updated_timestamp_ms = ? "
                "WHERE model_id = ?",
                (status.to_int(), int(time.time() * 1000), model_id),
            )
            if status == LoggedModelStatus.READY:
                outbox.enqueue(conn, outbox.ENSURE_MODEL, str(model.experiment_id))
                outbox.enqueue(conn, outbox.PUBLISH_VERSION, model_id)
        if status == LoggedModelStatus.READY:
            self._nudge()
        return self.get_logged_model(model_id)
