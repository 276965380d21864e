"""The metric log: where the store appends metric points, folded into MLflow's tables later.

A write appends one row per batch to ``jfml_metric_batches``: the run id and the batch's points
as compact JSON ``[[key, value, timestamp, step, is_nan], ...]`` — one B-tree insert per batch,
where MLflow's ``metrics`` table costs three per point plus a ``latest_metrics`` upsert.
:func:`fold` moves the log into both MLflow tables with SqlAlchemyStore's semantics: duplicate
points are ignored, and ``latest_metrics`` keeps the (step, timestamp, value)-greatest point per
key. Every reader of those tables folds first (the tracking store's reads, the syncer's payload
builders, ``jfml sync``).
"""

from __future__ import annotations

import json
import numbers
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from jfml_tracking.sync.journal import Journal

__all__ = ["append", "count_points", "fold"]

_BATCHES_PER_FOLD = 50  # short write transactions: writers never wait long on a fold
_INSERT_BATCH = "INSERT INTO jfml_metric_batches (run_uuid, rows) VALUES (?, ?)"
_INSERT_METRICS = (
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


def _builtin(value: Any) -> Any:
    # numpy scalars and other numbers.Number types MLflow's validation accepts
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(f"cannot journal {type(value).__name__} {value!r} as a metric field")


_encode = json.JSONEncoder(separators=(",", ":"), default=_builtin).encode


def append(conn: sqlite3.Connection, run_id: str, points: Sequence[Sequence[Any]]) -> None:
    """Append ``points`` (``(key, value, timestamp, step[, is_nan])``, values already
    sanitized) for ``run_id`` inside the caller's transaction."""
    if points:
        conn.execute(_INSERT_BATCH, (run_id, _encode(points)))


def _expand(batches: Iterable[tuple[str, str]]) -> list[tuple[Any, ...]]:
    rows = []
    for run_id, text in batches:
        for point in json.loads(text):
            is_nan = point[4] if len(point) > 4 else 0
            rows.append((point[0], float(point[1]), point[2], run_id, point[3], is_nan))
    return rows


def _latest(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    best: dict[tuple[str, str], tuple[Any, ...]] = {}
    for row in rows:
        key = (row[3], row[0])
        current = best.get(key)
        if current is None or (row[4], row[2], row[1]) > (current[4], current[2], current[1]):
            best[key] = row
    return [(r[0], r[1], r[2], r[4], r[5], r[3]) for r in best.values()]


def fold(journal: Journal, max_points: int | None = None) -> int:
    """Move logged points into MLflow's tables (all, or about ``max_points``); returns how many."""
    with journal.read() as conn:
        if conn.execute("SELECT 1 FROM jfml_metric_batches LIMIT 1").fetchone() is None:
            return 0  # the common read: nothing to fold, no write lock taken
    moved = 0
    while max_points is None or moved < max_points:
        with journal.transaction() as conn:
            batches = conn.execute(
                "SELECT id, run_uuid, rows FROM jfml_metric_batches ORDER BY id LIMIT ?",
                (_BATCHES_PER_FOLD,),
            ).fetchall()
            if not batches:
                break
            rows = _expand((run_id, text) for _id, run_id, text in batches)
            conn.executemany(_INSERT_METRICS, rows)
            conn.executemany(_UPSERT_LATEST, _latest(rows))
            conn.execute("DELETE FROM jfml_metric_batches WHERE id <= ?", (batches[-1][0],))
            moved += len(rows)
    return moved


def count_points(conn: sqlite3.Connection, run_id: str, key: str) -> int:
    """Points of ``key`` for ``run_id`` still in the log (not yet folded)."""
    texts = conn.execute(
        "SELECT rows FROM jfml_metric_batches WHERE run_uuid = ?", (run_id,)
    ).fetchall()
    return sum(1 for (text,) in texts for point in json.loads(text) if point[0] == key)
