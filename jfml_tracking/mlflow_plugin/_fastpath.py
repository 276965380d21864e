"""The lean write path: metrics, params and tags straight into the journal with raw sqlite3.

MLflow's SqlAlchemyStore spends milliseconds per ``log_metric`` in ORM sessions; here a call is
one ``BEGIN IMMEDIATE`` ... ``executemany`` ... ``COMMIT`` on a WAL database, committed before
it returns. Semantics match SqlAlchemyStore: duplicate metric points are ignored, ``latest_metrics``
keeps the (step, timestamp, value)-greatest point, a param cannot change its value, NaN is stored
as 0 with ``is_nan`` and ±inf as ±DBL_MAX.

Metric points go to the metric log, one row per batch (see
:mod:`jfml_tracking.sync.metric_log`; MLflow's ``metrics`` table costs three B-tree inserts per
point). The store folds the log into MLflow's tables before every
read that looks at metrics, and in the background when writes pause.
"""

from __future__ import annotations

import logging
import math
import operator
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from typing import Any

from jfml_tracking.sync import metric_log
from jfml_tracking.sync.journal import Journal

__all__ = ["READ_ONLY_TAG", "REMOTE_ID_TAG", "FastPath"]

_logger = logging.getLogger(__name__)

REMOTE_ID_TAG = "jfml.remote_id"
READ_ONLY_TAG = "jfml.read_only"
_DBL_MAX = 1.7976931348623157e308
_RUN_NAME_TAG = "mlflow.runName"
_INFINITIES = (math.inf, -math.inf)
_METRIC_FIELDS = operator.attrgetter("key", "value", "timestamp", "step")
_VALUE = operator.itemgetter(1)

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


_NUMBER_TYPES = frozenset((float, int))
_INT_TYPE = frozenset((int,))


class MetricValidator:
    """MLflow's metric validation, skipped for the common case it has already passed."""

    def __init__(self) -> None:
        self._good_keys: set[str] = set()

    def check(self, metrics: Sequence[Any]) -> None:
        """Validate ``Metric`` objects."""
        self.check_points(list(map(_METRIC_FIELDS, metrics)))

    def check_points(self, points: Sequence[tuple[Any, ...]]) -> None:
        """Validate ``(key, value, timestamp, step)`` tuples; raises MLflow's errors."""
        if not points:
            return
        keys, values, stamps, steps = zip(*points, strict=True)
        # The common case, decided in C: known keys, plain numbers, int timestamps and steps.
        if (
            self._good_keys.issuperset(keys)
            and _NUMBER_TYPES.issuperset(map(type, values))
            and _INT_TYPE.issuperset(map(type, stamps))
            and _INT_TYPE.issuperset(map(type, steps))
        ):
            return
        from mlflow.utils.validation import _validate_metric

        single = len(points) == 1
        for index, (key, value, timestamp, step) in enumerate(points):
            path = "" if single else f"metrics[{index}]"
            _validate_metric(key, value, timestamp, step, path=path)
            self._good_keys.add(key)


class FastPath:
    """Raw journal writes for the hot MLflow calls; thread-safe."""

    def __init__(self, journal: Journal, *, commit_interval: float = 0.0) -> None:
        self.journal = journal
        self._active: set[str] = set()
        self._lock = threading.Lock()
        self.last_write = 0.0
        self.last_fold = 0.0
        # Group commit of single metric points: appended here, committed every
        # ``commit_interval`` s by a daemon thread, and before anything else is written or read.
        self.commit_interval = commit_interval
        self._pending: list[tuple[Any, ...]] = []
        self._pending_lock = threading.Lock()
        self._stop = threading.Event()
        self._pid = os.getpid()  # a forked child has no commit thread: it commits directly
        if commit_interval > 0:
            threading.Thread(target=self._commit_loop, name="jfml-commit", daemon=True).start()

    def _commit_loop(self) -> None:
        while not self._stop.wait(self.commit_interval):
            try:
                self.commit_pending()
            except Exception:
                _logger.warning("jfml: could not commit metric points yet", exc_info=True)

    def commit_pending(self, conn: sqlite3.Connection | None = None) -> int:
        """Write the queued single points now (in ``conn``'s open transaction if given)."""
        with self._pending_lock:
            queued, self._pending = self._pending, []
        if not queued:
            return 0
        by_run: dict[str, list[tuple[Any, ...]]] = {}
        for run_id, point in queued:
            by_run.setdefault(run_id, []).append(point)
        try:
            if conn is not None:
                for run_id, points in by_run.items():
                    metric_log.append(conn, run_id, points)
            else:
                with self.journal.transaction() as own:
                    for run_id, points in by_run.items():
                        metric_log.append(own, run_id, points)
        except BaseException:
            with self._pending_lock:
                self._pending[:0] = queued  # keep them, in order, for the next attempt
            raise
        return len(queued)

    def stop(self) -> None:
        """Stop the commit thread after committing what is queued."""
        self._stop.set()
        self.commit_pending()

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
    def points(metrics: Sequence[Any]) -> list[tuple[Any, ...]]:
        """``(key, value, timestamp, step)`` of each ``Metric``, read in C."""
        return list(map(_METRIC_FIELDS, metrics))

    @staticmethod
    def _sanitized(points: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        try:
            # The common case, checked in C: a NaN or inf anywhere makes the sum non-finite
            # (so may an overflow, which only sends us down the careful path below).
            if math.isfinite(sum(map(_VALUE, points))):
                return points
        except TypeError:
            pass
        sanitized = []
        for key, value, timestamp, step in points:
            stored, is_nan = sanitize(float(value))
            sanitized.append((key, stored, timestamp, step, is_nan))
        return sanitized

    def fold(self, max_rows: int | None = None) -> int:
        """Move logged points into MLflow's ``metrics``/``latest_metrics``; returns how many."""
        self.commit_pending()
        moved = metric_log.fold(self.journal, max_rows)
        self.last_fold = time.monotonic()
        return moved

    def write(
        self,
        run_id: str,
        points: list[tuple[Any, ...]] | None = None,
        params: Sequence[Any] = (),
        tags: Sequence[Any] = (),
    ) -> None:
        """Write validated metric points (see :meth:`points`), params and tags in one
        transaction (all or nothing)."""
        points = self._sanitized(points) if points else []
        self.last_write = time.monotonic()
        with self.journal.transaction() as conn:
            self.commit_pending(conn)
            self.check_writable(conn, run_id)
            if params:
                self._write_params(conn, run_id, params)
            metric_log.append(conn, run_id, points)
            if tags:
                conn.executemany(_UPSERT_TAG, [(t.key, t.value, run_id) for t in tags])
                for t in tags:
                    if t.key == _RUN_NAME_TAG:
                        conn.execute(
                            "UPDATE runs SET name = ? WHERE run_uuid = ?", (t.value, run_id)
                        )

    def write_metric(self, run_id: str, metric: Any) -> None:
        """One metric point, the fluent ``log_metric`` path.

        With a commit interval the point is queued and committed within it (group commit);
        without one it is a single autocommit insert, durable before this returns.
        """
        value = metric.value
        is_nan = 0
        if value != value or value in _INFINITIES:
            value, is_nan = sanitize(value)
        point = (metric.key, value, metric.timestamp, metric.step, is_nan)
        self.last_write = time.monotonic()
        if run_id not in self._active:
            with self.journal.read() as conn:
                self.check_writable(conn, run_id)
        if self.commit_interval > 0 and self._pid == os.getpid():
            with self._pending_lock:
                self._pending.append((run_id, point))
            return
        with self.journal.transaction() as conn:
            metric_log.append(conn, run_id, [point])

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
