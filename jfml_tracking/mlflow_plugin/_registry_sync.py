"""What the registry store sends to JFrog ML: intents, payloads and the model-update handler.

Payloads are always built from the journal's current row, complete, so re-enqueueing a pending
intent replaces it with the latest truth (a stage change before the version was sent reaches
JFrog ML as the version's ``status``).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from jfml_tracking.sync import outbox
from jfml_tracking.sync.handlers import HANDLERS, NotReady, SyncContext, register_handler

__all__ = [
    "STAGE_TO_STATUS",
    "UPDATE_MODEL_NAMED",
    "flush_journal",
    "journal_for",
    "model_payload",
    "update_local_id",
    "version_local_id",
    "version_payload",
]

UPDATE_MODEL_NAMED = "update_model_named"  # local_id: registered model name
STAGE_TO_STATUS = {
    "None": "draft",
    "Staging": "staging",
    "Production": "production",
    "Archived": "archived",
}
_MAX_TAGS = 100
_MAX_TAG_LENGTH = 256


def version_local_id(name: str, version: int | str) -> str:
    """The outbox / id-mapping key of a registered version."""
    return f"{name}/{version}"


def version_payload(conn: sqlite3.Connection, name: str, version: int | str) -> dict[str, Any]:
    """The ``publish_registered_version`` payload for the journal's current version row."""
    row = conn.execute(
        "SELECT source, storage_location, run_id, current_stage, description "
        "FROM model_versions WHERE name = ? AND version = ?",
        (name, int(version)),
    ).fetchone()
    if row is None:
        raise LookupError(f"registered model {name!r} has no version {version} in the journal")
    source, storage_location, run_id, stage, description = row
    payload: dict[str, Any] = {
        "model_name": name,
        "version": str(version),
        "source": artifact_uri(conn, storage_location or source, run_id),
        "status": STAGE_TO_STATUS.get(stage or "None", "draft"),
    }
    if run_id:
        payload["run_id"] = run_id
    if description:
        payload["description"] = description[:10_000]
    return payload


def artifact_uri(conn: sqlite3.Connection, source: str, run_id: str | None) -> str:
    """The model's artifact location: ``models:/m-..`` and ``runs:/..`` resolved when we can."""
    if source.startswith("models:/m-"):
        row = conn.execute(
            "SELECT artifact_location FROM logged_models WHERE model_id = ?",
            (source[len("models:/") :].strip("/"),),
        ).fetchone()
        return str(row[0]) if row else source
    if source.startswith("runs:/"):
        run, _, path = source[len("runs:/") :].partition("/")
        row = conn.execute("SELECT artifact_uri FROM runs WHERE run_uuid = ?", (run,)).fetchone()
        if row and row[0]:
            return f"{str(row[0]).rstrip('/')}/{path}" if path else str(row[0])
    return source


def model_payload(conn: sqlite3.Connection, name: str) -> dict[str, Any]:
    """``{"description", "tags"}`` of a registered model, for ``ensure``/``update`` intents.

    MLflow tags are key/value pairs; JFrog ML tags are strings, so each becomes ``key=value``
    (MLflow's own ``mlflow.*`` tags stay local), after the ``mlflow`` marker tag.
    """
    row = conn.execute(
        "SELECT description FROM registered_models WHERE name = ?", (name,)
    ).fetchone()
    tags = ["mlflow"]
    for key, value in conn.execute(
        "SELECT key, value FROM registered_model_tags WHERE name = ? ORDER BY key", (name,)
    ):
        if key.startswith("mlflow."):
            continue
        text = f"{key}={value}" if value not in (None, "") else key
        tags.append(text[:_MAX_TAG_LENGTH])
    payload: dict[str, Any] = {"tags": tags[:_MAX_TAGS]}
    if row is not None and row[0]:
        payload["description"] = str(row[0])[:10_000]
    return payload


def journal_for(tracking_uri: str) -> Path | None:
    """The journal of ``tracking_uri`` if it exists (None when it cannot be resolved)."""
    from jfml_tracking.config import ConfigurationError
    from jfml_tracking.sync.target import resolve_target

    try:
        path = resolve_target(tracking_uri).journal_path
    except (ConfigurationError, ValueError):
        return None
    return path if path.exists() else None


def flush_journal(tracking_uri: str, timeout: float) -> int:
    """Ask this process's syncer for ``tracking_uri``'s journal to send now; pending count."""
    from jfml_tracking.sync import engine

    path = journal_for(tracking_uri)
    return engine.flush(path, timeout) if path is not None else 0


# --- the update handler ------------------------------------------------------------------------


def update_local_id(name: str) -> str:
    """A fresh key per update: a done intent never runs again, and updates may repeat."""
    return f"{name}#{time.time_ns()}"


def _update_model_named(ctx: SyncContext, intent: outbox.Intent) -> tuple[str, str | None]:
    """Make the JFrog model of a registered model carry its current description and tags."""
    from jfml_tracking.api import ModelRequest

    name = str(intent.payload.get("model_name") or intent.local_id.rsplit("#", 1)[0])
    with ctx.journal.read() as conn:
        remote = outbox.remote_id(conn, "model_name", name)
        exists = conn.execute("SELECT 1 FROM registered_models WHERE name = ?", (name,)).fetchone()
        payload = model_payload(conn, name) if exists else None
    if payload is None:
        return remote or "-", None  # deleted locally since; JFrog ML keeps what it has
    if remote is None:
        with ctx.journal.transaction() as conn:
            outbox.enqueue(conn, outbox.ENSURE_MODEL_NAMED, name, payload)
        raise NotReady(f"waiting for the JFrog ML model of {name!r}")
    current = ctx.client.get_model(remote)
    request = ModelRequest(
        name=name,
        description=payload.get("description"),
        framework=current.framework,
        task_type=current.task_type,
        tags=payload["tags"],
    )
    ctx.client.update_model(remote, request)
    return remote, None


if UPDATE_MODEL_NAMED not in HANDLERS:
    register_handler(UPDATE_MODEL_NAMED, _update_model_named, order=40)
