"""Publishing a registered version without ever adopting someone else's JFrog version.

The journal is per machine (and per ``JFML_HOME``), so its version numbers start at 1 even when
the model already has versions "1", "2"... on JFrog ML (registered from another machine or
journal). Reconciling by the version string alone would map our version 1 onto that older
version 1, and deploying ``models:/NAME/1`` would serve the old artifact.

So a remote version counts as ours only when its ``artifact_path`` is our artifact: a replay
of the same intent finds it (exactly one JFrog version), and when our number is taken by
another artifact the version is created under the next free number instead. The engine
records ``name/N -> ModelVersion id``, which is what ``models:/NAME/N`` resolves through; the
JFrog number is also kept as the version tag ``jfml.jfrog_version`` and warned about once.
"""

from __future__ import annotations

import logging
from typing import Any

from jfml_tracking import _once
from jfml_tracking.sync import mapping, metric_log, outbox
from jfml_tracking.sync.handlers import _TERMINAL, NotReady, SyncContext

__all__ = ["JFROG_VERSION_TAG", "publish_registered_version"]

JFROG_VERSION_TAG = "jfml.jfrog_version"
_MAX_TRIES = 8  # numbers lost to concurrent creators before giving up for this pass
_logger = logging.getLogger("jfml_tracking.registry")


def publish_registered_version(ctx: SyncContext, intent: outbox.Intent) -> tuple[str, str | None]:
    """Handler of ``publish_registered_version``: find our version by artifact, else create it
    under our number or, when another artifact holds that number, the next free one."""
    from jfml_tracking.client import Conflict

    payload = intent.payload
    name, local = str(payload["model_name"]), str(payload["version"])
    source = payload.get("source")
    model_id = _require_model_named(ctx, name)
    fields = _version_fields(ctx, payload)
    for _ in range(_MAX_TRIES):
        remote = list(ctx.client.iter_model_versions(model_id))
        found = _ours(remote, source, local, _mapped_elsewhere(ctx, intent.local_id))
        if found is not None:
            return _done(ctx, name, local, found, model_id)
        number = _free_number(remote, local)
        try:
            created = ctx.client.create_model_version(model_id, version=number, **fields)
        except Conflict:
            continue  # someone took the number meanwhile: look again
        if created.artifact_path == source:
            return _done(ctx, name, local, created, model_id)
        # The client reconciled an ambiguous attempt onto another artifact's version.
    raise NotReady(f"could not find a free JFrog ML version number for {name} version {local}")


def _require_model_named(ctx: SyncContext, name: str) -> str:
    with ctx.journal.read() as conn:
        found = outbox.remote_id(conn, "model_name", name)
    if found:
        return str(found)
    with ctx.journal.transaction() as conn:
        outbox.enqueue(conn, outbox.ENSURE_MODEL_NAMED, name)
    raise NotReady(f"waiting for the JFrog ML model {name!r}")


def _version_fields(ctx: SyncContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Everything of the version request but its number: artifact, status, run metrics."""
    metrics: dict[str, float] = {}
    params: dict[str, str] = {}
    run_id = payload.get("run_id")
    if run_id:
        metric_log.fold(ctx.journal)
        with ctx.journal.read() as conn:
            run = mapping.run_row(conn, run_id)
            if run is not None and run[1] not in _TERMINAL:
                # log_model(registered_model_name=...) registers mid-run; the version must
                # carry the run's final metrics, so it waits for the run to end.
                raise NotReady(f"waiting for run {run_id} to end")
            if run is not None:
                metrics = mapping._run_metrics(conn, run_id)
                params = mapping._run_params(conn, run_id)
    fields: dict[str, Any] = {
        "status": payload.get("status") or "draft",
        "artifact_path": payload.get("source"),
        "metrics": metrics,
        "parameters": params,
    }
    if payload.get("description"):
        fields["description"] = payload["description"]
    return fields


def _mapped_elsewhere(ctx: SyncContext, local_id: str) -> set[str]:
    """Remote version ids this journal already maps to another registered version."""
    with ctx.journal.read() as conn:
        rows = conn.execute(
            "SELECT remote_id FROM jfml_remote_ids WHERE kind = 'registered_version' "
            "AND local_id != ?",
            (local_id,),
        ).fetchall()
    return {str(row[0]) for row in rows}


def _ours(remote: list[Any], source: Any, local: str, taken: set[str]) -> Any | None:
    """The remote version made from our artifact (our number first), not claimed by another
    of our versions; None when there is none."""
    if not source:
        return None
    candidates = [v for v in remote if v.artifact_path == source and str(v.id) not in taken]
    candidates.sort(key=lambda v: (v.version != local, _number(v.version) or 0))
    return candidates[0] if candidates else None


def _free_number(remote: list[Any], local: str) -> str:
    """``local`` if no remote version has it, else one above the highest numeric version."""
    if all(v.version != local for v in remote):
        return local
    numbers = [n for n in (_number(v.version) for v in remote) if n is not None]
    return str(max([*numbers, _number(local) or 0]) + 1)


def _number(version: str) -> int | None:
    return int(version) if version.isdigit() else None


def _done(ctx: SyncContext, name: str, local: str, found: Any, model_id: str) -> tuple[str, str]:
    if found.version != local:
        _record_number(ctx, name, local, str(found.version))
        _warn_renumbered(name, local, str(found.version))
    return str(found.id), model_id


def _record_number(ctx: SyncContext, name: str, local: str, number: str) -> None:
    """Keep the JFrog number on the local version (a tag MLflow shows)."""
    with ctx.journal.transaction() as conn:
        exists = conn.execute(
            "SELECT 1 FROM model_versions WHERE name = ? AND version = ?", (name, int(local))
        ).fetchone()
        if exists:
            conn.execute(
                "INSERT OR REPLACE INTO model_version_tags (key, value, name, version) "
                "VALUES (?, ?, ?, ?)",
                (JFROG_VERSION_TAG, number, name, int(local)),
            )


def _warn_renumbered(name: str, local: str, number: str) -> None:
    _once.warn_once(
        _logger,
        f"renumbered {name}/{local}",
        "jfml: registered model %r version %s is version %s on JFrog ML: JFrog ML already had "
        "a version %s of %r made from another artifact (registered from another machine or "
        "JFML_HOME). models:/%s/%s still means your version (deployments included); its "
        "JFrog ML number is in the version tag %s.",
        name,
        local,
        number,
        local,
        name,
        name,
        local,
        JFROG_VERSION_TAG,
    )
