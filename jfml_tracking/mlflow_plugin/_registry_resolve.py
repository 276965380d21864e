"""From an MLflow model URI to the JFrog ML model and version that a deployment needs.

``models:/NAME/3``, ``models:/NAME@champion``, ``models:/NAME/Production`` and
``models:/NAME/latest`` name a registered version (alias and stage are looked up in the
registry); ``models:/m-...`` names a logged model. The journal's id mapping answers first
(exact and offline); otherwise the JFrog model is found by name and the version by its version
string. A version registered moments ago may still be on its way to JFrog ML, so the lookup
asks the syncer to flush and waits, bounded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ModelRef", "ResolvedVersion", "parse_models_uri", "resolve_version"]

_STAGES = {"production": "Production", "staging": "Staging", "archived": "Archived", "none": "None"}


class UnresolvableModelURI(ValueError):
    """The URI does not name a deployable registered version; ``str()`` says how to fix it."""


@dataclass(frozen=True)
class ModelRef:
    """A parsed ``models:/`` URI; exactly one of ``version``/``alias``/``stage`` is set for a
    registered model, none for a logged model (``logged_model_id``)."""

    name: str | None = None
    version: str | None = None
    alias: str | None = None
    stage: str | None = None  # "Production", ..., or "latest"
    logged_model_id: str | None = None


@dataclass(frozen=True)
class ResolvedVersion:
    model_id: str
    model_version_id: str
    description: str  # e.g. "churn version 3", for messages


def parse_models_uri(uri: str) -> ModelRef:
    """Parse ``models:/NAME/VERSION|STAGE|latest``, ``models:/NAME@ALIAS`` or ``models:/m-ID``."""
    hint = (
        "use models:/NAME/VERSION, models:/NAME@ALIAS or models:/NAME/Production "
        "(a registered model version)"
    )
    if not uri.startswith("models:/"):
        raise UnresolvableModelURI(
            f"cannot deploy {uri!r}: JFrog ML deploys model versions; {hint}"
        )
    rest = uri[len("models:/") :].strip("/")
    if "/" in rest:
        name, ref = rest.rsplit("/", 1)
        if ref.isdigit():
            return ModelRef(name=name, version=ref)
        if ref.lower() == "latest":
            return ModelRef(name=name, stage="latest")
        if ref.lower() in _STAGES:
            return ModelRef(name=name, stage=_STAGES[ref.lower()])
        raise UnresolvableModelURI(f"{uri!r}: {ref!r} is not a version or stage; {hint}")
    if "@" in rest:
        name, alias = rest.rsplit("@", 1)
        if name and alias:
            return ModelRef(name=name, alias=alias)
    if rest.startswith("m-"):
        return ModelRef(logged_model_id=rest)
    raise UnresolvableModelURI(f"{uri!r} names no version; {hint}")


def registered_version_number(ref: ModelRef, registry_uri: str) -> str:
    """The version number an alias or stage points at, asked of the MLflow registry."""
    if ref.version is not None:
        return ref.version
    from mlflow.tracking import MlflowClient

    assert ref.name is not None, "a logged-model reference has no registered version"
    client = MlflowClient(registry_uri=registry_uri)
    if ref.alias is not None:
        return str(client.get_model_version_by_alias(ref.name, ref.alias).version)
    stages = None if ref.stage == "latest" else [ref.stage]
    versions = client.get_latest_versions(ref.name, stages=stages)
    if not versions:
        raise UnresolvableModelURI(
            f"registered model {ref.name!r} has no version in stage {ref.stage}; "
            "transition a version first or deploy models:/NAME/VERSION"
        )
    return str(max(int(v.version) for v in versions))


def _from_journal(journal_path: Path | None, kind: str, local_id: str) -> tuple[str, str] | None:
    if journal_path is None or not journal_path.exists():
        return None
    import sqlite3

    try:
        conn = sqlite3.connect(f"file:{journal_path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return None  # the server lookup still answers
    try:
        row = conn.execute(
            "SELECT remote_id, remote_parent_id FROM jfml_remote_ids "
            "WHERE kind = ? AND local_id = ?",
            (kind, local_id),
        ).fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return (row[1], row[0]) if row and row[0] and row[1] else None


def _local_source(journal_path: Path | None, name: str, version: str) -> str | None:
    """The artifact URI our journal registered as ``name`` version ``version`` (None: unknown)."""
    if journal_path is None or not journal_path.exists():
        return None
    import sqlite3

    from jfml_tracking.mlflow_plugin._registry_sync import version_payload

    try:
        conn = sqlite3.connect(f"file:{journal_path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return None
    try:
        return str(version_payload(conn, name, version)["source"])
    except (sqlite3.Error, LookupError, ValueError):
        return None
    finally:
        conn.close()


def _from_server(
    client: Any, name: str, version: str, source: str | None
) -> tuple[str, str] | None:
    """The JFrog version numbered ``version``, but only if it holds our artifact: another
    journal may have registered a different model under the same number."""
    model = client.find_model_by_name(name)
    if model is None:
        return None
    found = client.find_model_version(model.id, version)
    if found is None or (source is not None and found.artifact_path != source):
        return None  # ours is not sent yet (or went under another number): wait for the sync
    return (str(model.id), str(found.id))


def resolve_version(
    ref: ModelRef,
    *,
    client: Any,
    registry_uri: str,
    journal_path: Path | None,
    timeout: float,
    flush: Callable[[float], object] | None = None,
) -> ResolvedVersion:
    """The JFrog ids of ``ref``; waits up to ``timeout`` s for a version still being synced."""
    if ref.logged_model_id is not None:
        kind, local_id, label = "model_version", ref.logged_model_id, ref.logged_model_id
        lookups: list[Callable[[], tuple[str, str] | None]] = [
            lambda: _from_journal(journal_path, kind, local_id)
        ]
    else:
        assert ref.name is not None
        name, version = ref.name, registered_version_number(ref, registry_uri)
        kind, local_id, label = (
            "registered_version",
            f"{name}/{version}",
            f"{name} version {version}",
        )
        source = _local_source(journal_path, name, version)
        lookups = [
            lambda: _from_journal(journal_path, kind, local_id),
            lambda: _from_server(client, name, version, source),
        ]
    deadline = time.monotonic() + timeout
    while True:
        for lookup in lookups:
            found = lookup()
            if found:
                return ResolvedVersion(found[0], found[1], label)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise UnresolvableModelURI(
                f"{label} is not on JFrog ML (yet). If it was registered offline or sync is "
                "failing, run `jfml sync` (and `jfml status` to see why), then deploy again."
            )
        if flush is not None:
            flush(min(remaining, 5.0))
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
