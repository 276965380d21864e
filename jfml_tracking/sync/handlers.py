"""What each outbox intent does against JFrog ML.

A handler takes ``(ctx, intent)`` and returns ``(remote_id, remote_parent_id)``; it raises
:class:`NotReady` when a dependency is missing (the intent waits, no attempt is counted) and lets
client errors propagate (the engine retries them with backoff). Every handler is idempotent:
it first looks for the entity it would create.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jfml_tracking.api import ModelRequest, ModelVersionRequest
from jfml_tracking.sync import mapping, metric_log, outbox
from jfml_tracking.sync.journal import Journal

__all__ = [
    "HANDLERS",
    "NotReady",
    "SyncContext",
    "kind_order",
    "register_handler",
]

_logger = logging.getLogger(__name__)

_TERMINAL = ("FINISHED", "FAILED", "KILLED")


class NotReady(Exception):
    """The intent depends on something not sent yet (or a run still running)."""


@dataclass
class SyncContext:
    """What handlers get: the journal and a connected client."""

    journal: Journal
    client: Any  # jfml_tracking.client.JFrogMLClient


Handler = Callable[[SyncContext, outbox.Intent], tuple[str, str | None]]
HANDLERS: dict[str, Handler] = {}
_ORDER: dict[str, int] = {}


def register_handler(kind: str, handler: Handler, *, order: int = 50) -> None:
    """Handle intents of ``kind`` with ``handler``; lower ``order`` is sent first."""
    HANDLERS[kind] = handler
    _ORDER[kind] = order


def kind_order() -> tuple[str, ...]:
    """Known kinds, dependencies first."""
    return tuple(sorted(_ORDER, key=_ORDER.__getitem__))


def _require_model(ctx: SyncContext, kind: str, local_id: str, intent_kind: str) -> str:
    """The remote Model id for ``(kind, local_id)``, or enqueue its intent and wait."""
    with ctx.journal.read() as conn:
        found = outbox.remote_id(conn, kind, local_id)
    if found:
        return found
    with ctx.journal.transaction() as conn:
        outbox.enqueue(conn, intent_kind, local_id)
    raise NotReady(f"waiting for the JFrog ML model ({intent_kind} {local_id})")


def _find_or_create_model(ctx: SyncContext, request: ModelRequest) -> str:
    from jfml_tracking.client import Conflict

    existing = ctx.client.find_model_by_name(request.name)
    if existing is not None:
        return str(existing.id)
    try:
        return str(ctx.client.create_model(request).id)
    except Conflict:
        # Created meanwhile by someone else (or the name belongs to a model we cannot see).
        existing = ctx.client.find_model_by_name(request.name)
        if existing is None:
            raise
        return str(existing.id)


def _ensure_model(ctx: SyncContext, intent: outbox.Intent) -> tuple[str, str | None]:
    with ctx.journal.read() as conn:
        request = mapping.model_request(conn, intent.local_id)
    return _find_or_create_model(ctx, request), None


def _ensure_model_named(ctx: SyncContext, intent: outbox.Intent) -> tuple[str, str | None]:
    payload = intent.payload
    request = ModelRequest(
        name=intent.local_id,
        description=payload.get("description"),
        tags=payload.get("tags") or None,
    )
    return _find_or_create_model(ctx, request), None


def _find_experiment_of_run(ctx: SyncContext, model_id: str, run_id: str) -> str | None:
    """An Experiment an earlier, unanswered attempt may have created (marked with the run id)."""
    marker = f"MLflow run {run_id}"
    for experiment in ctx.client.iter_experiments(model_id=model_id):
        if (experiment.description or "").startswith(marker):
            return str(experiment.id)
    return None


def _finish_run(ctx: SyncContext, intent: outbox.Intent) -> tuple[str, str | None]:
    run_id = intent.local_id
    with ctx.journal.read() as conn:
        row = mapping.run_row(conn, run_id)
    if row is None:
        raise LookupError(f"run {run_id} is not in the journal")
    if row[1] not in _TERMINAL:
        raise NotReady(f"run {run_id} is {row[1]} again (resumed); sent when it ends")
    model_id = _require_model(ctx, "model", str(row[4]), outbox.ENSURE_MODEL)
    metric_log.fold(ctx.journal)
    if intent.attempts:
        found = _find_experiment_of_run(ctx, model_id, run_id)
        if found:
            return found, model_id
    with ctx.journal.read() as conn:
        request = mapping.experiment_request(conn, run_id, model_id)
    return str(ctx.client.create_experiment(request).id), model_id


def _create_version(ctx: SyncContext, model_id: str, request: ModelVersionRequest) -> str:
    from jfml_tracking.client import Conflict

    try:
        return str(ctx.client.create_model_version(model_id, request).id)
    except Conflict:
        # Version strings are ours and deterministic: an existing one is our earlier attempt.
        existing = ctx.client.find_model_version(model_id, request.version)
        if existing is None:
            raise
        return str(existing.id)


def _publish_version(ctx: SyncContext, intent: outbox.Intent) -> tuple[str, str | None]:
    with ctx.journal.read() as conn:
        row = mapping.logged_model_row(conn, intent.local_id)
        run = mapping.run_row(conn, row[3]) if row and row[3] else None
    if row is None:
        raise LookupError(f"logged model {intent.local_id} is not in the journal")
    if run is not None and run[1] not in _TERMINAL:
        # The version carries the run's final metrics, so it waits for the run to end.
        raise NotReady(f"waiting for run {row[3]} to end")
    model_id = _require_model(ctx, "model", str(row[1]), outbox.ENSURE_MODEL)
    metric_log.fold(ctx.journal)
    with ctx.journal.read() as conn:
        request = mapping.version_request(conn, intent.local_id)
    existing = ctx.client.find_model_version(model_id, request.version) if intent.attempts else None
    if existing is not None:
        return str(existing.id), model_id
    return _create_version(ctx, model_id, request), model_id


register_handler(outbox.ENSURE_MODEL, _ensure_model, order=0)
register_handler(outbox.ENSURE_MODEL_NAMED, _ensure_model_named, order=1)
register_handler(outbox.FINISH_RUN, _finish_run, order=10)
register_handler(outbox.PUBLISH_VERSION, _publish_version, order=20)

# Imported last: it builds on NotReady and SyncContext above.
from jfml_tracking.sync.registered_versions import publish_registered_version  # noqa: E402

register_handler(outbox.PUBLISH_REGISTERED_VERSION, publish_registered_version, order=30)
