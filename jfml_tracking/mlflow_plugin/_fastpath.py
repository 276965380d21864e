"""The lean write path: metrics, params and tags straight into the journal with raw sqlite3.

MLflow's SqlAlchemyStore spends milliseconds per ``log_metric`` in ORM sessions; here a call is
one ``BEGIN IMMEDIATE`` ... ``executemany`` ... ``COMMIT`` on a WAL database, committed before
it returns. Semantics match SqlAlchemyStore: duplicate metric points are ignored, ``latest_metrics``
keeps the (step, timestamp, value)-greatest point, a param cannot change its value, NaN is stored
as 0 with ``is_nan`` and ±inf as ±DBL_MAX.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

from jfml_tracking.sync.journal import Journal

__all__ = ["READ_ONLY_TAG", "REMOTE_ID_TAG", "FastPath"]

REMOTE_ID_TAG = "jfml.remote_id"
READ_ONLY_TAG = "jfml.read_only"
_DBL_MAX = 1.7976931348623157e308
_RUN_NAME_TAG = "mlflow.runName"

_INSERT_METRIC = (
    "INSERT OR IGNORE INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_UPSERT_LATEST = (
    "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key, run_uuid) DO UPDATE SET "
    "value = excluded.value, timestamp = excluded.timestamp, step = excluded.step, "
    "is_nan = excluded.is_nan WHERE excluded.step > latest_metrics.step OR "
    "(excluded.step = latest_metrics.step AND excluded.timestamp > latest_metrics.timestamp) OR "
    "(excluded.step = latest_metrics.step AND excluded.timestamp = latest_metrics.timestamp "
    "AND excluded.value > latest_metrics.value)"
)
_INSERT_PARAM = (
    "INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?) "
    "ON CONFLICT (key, run_uuid) DO NOTHING"
)
_UPSERT_TAG = (
    "INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?) "
    "ON CONFLICT (key, run_uuid) DO UPDATE SET value = excluded.value"
)


def _mlflow_error(message: str, code: str) -> Exception:
    from mlflow.exceptions import MlflowException
    from mlflow.protos import databricks_pb2

    return MlflowException(message, getattr(databricks_pb2, code))


def sanitize(value: float) -> tuple[float, int]:
    """(stored value, is_nan) exactly as SqlAlchemyStore stores them."""
    if math.isnan(value):
        return 0.0, 1
    if math.isinf(value):
        return (_DBL_MAX if value > 0 else -_DBL_MAX), 0
    return float(value), 0


class FastPath:
    """Raw journal writes for the hot MLflow calls; thread-safe."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._active: set[str] = set()
        self._lock = threading.Lock()

    def forget(self, run_id: str) -> None:
        """Drop the cached 'run is active and writable' fact (after delete/restore)."""
        with self._lock:
            self._active.discard(run_id)

    def check_writable(self, conn: sqlite3.Connection, run_id: str) -> None:
        """Raise MLflow's errors for a missing, deleted or read-only (remote) run."""
        if run_id in self._active:
            return
        row = conn.execute(
            "SELECT lifecycle_stage FROM runs WHERE run_uuid = ?", (run_id,)
        ).fetchone()
        if row is None:
            raise _mlflow_error(f"Run with id={run_id} not found", "RESOURCE_DOES_NOT_EXIST")
        if row[0] != "active":
            raise _mlflow_error(
                f"The run {run_id} must be in the 'active' state. Current state is {row[0]}.",
                "INVALID_PARAMETER_VALUE",
            )
        remote = conn.execute(
            "SELECT remote_id FROM jfml_remote_ids WHERE kind = 'experiment' AND local_id = ? "
            "AND origin = 'remote'",
            (run_id,),
        ).fetchone()
        if remote is not None:
            raise _mlflow_error(
                f"Run {run_id} mirrors JFrog ML experiment {remote[0]}, made elsewhere; it is "
                "read-only. Start a new run to log to it.",
                "INVALID_PARAMETER_VALUE",
            )
        with self._lock:
            self._active.add(run_id)

    @staticmethod
    def _metric_rows(run_id: str, metrics: Sequence[Any]) -> tuple[list[tuple[Any, ...]], dict]:
        rows = []
        latest: dict[str, tuple[Any, ...]] = {}
        for m in metrics:
            value, is_nan = sanitize(m.value)
            row = (m.key, value, m.timestamp, run_id, m.step, is_nan)
            rows.append(row)
            best = latest.get(m.key)
            if best is None or (m.step, m.timestamp, value) > (best[4], best[2], best[1]):
                latest[m.key] = row
        return rows, latest

    def write(
        self,
        run_id: str,
        metrics: Sequence[Any] = (),
        params: Sequence[Any] = (),
        tags: Sequence[Any] = (),
    ) -> None:
        """Write validated metrics, params and tags in one transaction (all or nothing)."""
        rows, latest = self._metric_rows(run_id, metrics) if metrics else ([], {})
        with self.journal.transaction() as conn:
            self.check_writable(conn, run_id)
            if params:
                self._write_params(conn, run_id, params)
            if rows:
                conn.executemany(_INSERT_METRIC, rows)
                conn.executemany(
                    _UPSERT_LATEST, [(r[0], r[1], r[2], r[4], r[5], r[3]) for r in latest.values()]
                )
            if tags:
                conn.executemany(_UPSERT_TAG, [(t.key, t.value, run_id) for t in tags])
                for t in tags:
                    if t.key == _RUN_NAME_TAG:
                        conn.execute(
                            "UPDATE runs SET name = ? WHERE run_uuid = ?", (t.value, run_id)
                        )

    def write_metric(self, run_id: str, metric: Any) -> None:
        """One metric point, the fluent ``log_metric`` path."""
        value, is_nan = sanitize(metric.value)
        key, ts, step = metric.key, metric.timestamp, metric.step
        with self.journal.transaction() as conn:
            if run_id not in self._active:
                self.check_writable(conn, run_id)
            conn.execute(_INSERT_METRIC, (key, value, ts, run_id, step, is_nan))
            conn.execute(_UPSERT_LATEST, (key, value, ts, step, is_nan, run_id))

    @staticmethod
    def _write_params(conn: sqlite3.Connection, run_id: str, params: Sequence[Any]) -> None:
        before = conn.total_changes
        conn.executemany(_INSERT_PARAM, [(p.key, str(p.value), run_id) for p in params])
        if conn.total_changes - before == len(params):
            return
        wanted = {p.key: str(p.value) for p in params}
        marks = ",".join("?" * len(wanted))
        existing = dict(
            conn.execute(
                f"SELECT key, value FROM params WHERE run_uuid = ? AND key IN ({marks})",
                (run_id, *wanted),
            ).fetchall()
        )
        changed = [
            {"key": k, "old_value": existing[k], "new_value": v}
            for k, v in wanted.items()
            if k in existing and existing[k] != v
        ]
        if changed:
            raise _mlflow_error(
                f"Changing param values is not allowed. Params were already logged='{changed}' "
                f"for run ID='{run_id}'.",
                "INVALID_PARAMETER_VALUE",
            )
