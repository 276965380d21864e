"""The metric log: where the store appends metric points, folded into MLflow's tables later.

Appending to ``jfml_metric_log`` (no indexes) costs one B-tree insert per point; MLflow's
``metrics`` table costs three, plus a ``latest_metrics`` upsert. :func:`fold` moves the log into
both MLflow tables, with SqlAlchemyStore's semantics: duplicate points are ignored and
``latest_metrics`` keeps the (step, timestamp, value)-greatest point per key. Every reader of
those tables folds first (the tracking store's reads, the syncer's payload builders).
"""

from __future__ import annotations

from jfml_tracking.sync.journal import Journal

__all__ = ["fold"]

_CHUNK = 20_000
_COLUMNS = "key, value, timestamp, run_uuid, step, is_nan"
_UPSERT_LATEST = (
    "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
    "SELECT key, value, timestamp, step, is_nan, run_uuid FROM jfml_metric_log "
    "WHERE rowid <= ? ORDER BY rowid "
    "ON CONFLICT (key, run_uuid) DO UPDATE SET "
    "value = excluded.value, timestamp = excluded.timestamp, step = excluded.step, "
    "is_nan = excluded.is_nan WHERE excluded.step > latest_metrics.step OR "
    "(excluded.step = latest_metrics.step AND excluded.timestamp > latest_metrics.timestamp) OR "
    "(excluded.step = latest_metrics.step AND excluded.timestamp = latest_metrics.timestamp "
    "AND excluded.value > latest_metrics.value)"
)


def fold(journal: Journal, max_rows: int | None = None) -> int:
    """Move up to ``max_rows`` (default: all) logged points into MLflow's tables."""
    moved = 0
    while max_rows is None or moved < max_rows:
        chunk = _CHUNK if max_rows is None else min(_CHUNK, max_rows - moved)
        with journal.transaction() as conn:
            first = conn.execute("SELECT MIN(rowid) FROM jfml_metric_log").fetchone()[0]
            if first is None:
                break
            top = first + chunk - 1
            conn.execute(_UPSERT_LATEST, (top,))
            conn.execute(
                f"INSERT OR IGNORE INTO metrics ({_COLUMNS}) "
                f"SELECT {_COLUMNS} FROM jfml_metric_log WHERE rowid <= ?",
                (top,),
            )
            moved += conn.execute("DELETE FROM jfml_metric_log WHERE rowid <= ?", (top,)).rowcount
    return moved
