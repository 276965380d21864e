"""``JFrogMLRegistryStore``: MLflow's registry SqlAlchemyStore on the journal, plus sync intents.

Imported lazily by :mod:`jfml_tracking.mlflow_plugin.registry_store` (it imports MLflow's store
at top level). The journal holds the full registry (stages, aliases, tags, descriptions); JFrog
ML gets what its contract can carry:

==============================================  ================================================
MLflow                                          JFrog ML
==============================================  ================================================
registered model (name, description, tags)      Model (name, description, tags ``key=value``)
model version N (source, run, stage, desc.)     ModelVersion ``version="N"`` with the artifact
                                                URI, the run's metrics and params, ``status``
                                                (the next free number if another artifact
                                                holds N there: ``sync.registered_versions``)
stage None/Staging/Production/Archived          status draft/staging/production/archived
update description / tags of a model            ``updateModel`` (PUT)
stage / description of a version already sent  journal only (no update operation); warned once
version tags, aliases                           journal only (no such fields)
delete model / version                          journal only; JFrog ML keeps it; warned once
==============================================  ================================================
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

from jfml_tracking import _once
from jfml_tracking.mlflow_plugin import _registry_sync as rsync
from jfml_tracking.sync import outbox
from jfml_tracking.sync.journal import install_sqlalchemy_engine

__all__ = ["JFrogMLRegistryStore"]

_logger = logging.getLogger("jfml_tracking.registry")

_NO_VERSION_UPDATE = (
    "jfml: JFrog ML's API cannot change a model version once it is created; %s of %s stays in "
    "the local journal (MLflow shows it), JFrog ML keeps the value it was sent with. "
    "(warned once per process)"
)


def warn_once(key: str, message: str, *args: Any) -> None:
    _once.warn_once(_logger, f"registry:{key}", message, *args)


class JFrogMLRegistryStore(SqlAlchemyStore):  # type: ignore[misc]
    """The model registry behind ``jfml`` URIs: the journal first, JFrog ML in the background.

    It shares the journal, the background syncer and the exit flush of the jfml tracking store
    of the same URI, looked up on each use (tests and long-lived processes may replace it).
    """

    def __init__(self, store_uri: str) -> None:
        self.store_uri = store_uri
        db_uri = f"sqlite:///{self.journal.path}"
        install_sqlalchemy_engine(SqlAlchemyStore, db_uri)
        super().__init__(db_uri)
        self._enqueue_missing_versions()

    @property
    def tracking(self) -> Any:
        """The jfml tracking store of the same URI (MLflow's cached instance)."""
        from jfml_tracking.mlflow_plugin.registry_store import tracking_store_for

        return tracking_store_for(self.store_uri)

    @property
    def journal(self) -> Any:
        """The journal (``jfml_tracking.sync.journal.Journal``) shared with the tracking store."""
        return self.tracking.journal

    def __repr__(self) -> str:
        return f"JFrogMLRegistryStore({self.store_uri!r})"

    def flush(self, timeout: float = 10.0) -> int:
        """Wait up to ``timeout`` s for pending items to reach JFrog ML; how many remain."""
        return int(self.tracking.flush(timeout))

    # --- intents ----------------------------------------------------------------------------

    def _nudge(self) -> None:
        nudge = getattr(self.tracking, "_nudge", None)
        if nudge is not None:
            nudge()

    def _publish(self, name: str, versions: list[int | str]) -> None:
        """(Re-)enqueue versions with their current state; warn when one was sent already."""
        sent = []
        with self.journal.transaction() as conn:
            outbox.enqueue(conn, outbox.ENSURE_MODEL_NAMED, name, rsync.model_payload(conn, name))
            for version in versions:
                local_id = rsync.version_local_id(name, version)
                if _is_done(conn, outbox.PUBLISH_REGISTERED_VERSION, local_id):
                    sent.append(local_id)
                    continue
                payload = rsync.version_payload(conn, name, version)
                outbox.enqueue(conn, outbox.PUBLISH_REGISTERED_VERSION, local_id, payload)
        self._nudge()
        if sent:
            warn_once("version-update", _NO_VERSION_UPDATE, "the change", ", ".join(sent))

    def _update_model(self, name: str) -> None:
        with self.journal.transaction() as conn:
            if _is_done(conn, outbox.ENSURE_MODEL_NAMED, name):
                outbox.enqueue(
                    conn,
                    rsync.UPDATE_MODEL_NAMED,
                    rsync.update_local_id(name),
                    {"model_name": name},
                )
            else:  # not created yet: it will be created with the latest description and tags
                outbox.enqueue(
                    conn, outbox.ENSURE_MODEL_NAMED, name, rsync.model_payload(conn, name)
                )
        self._nudge()

    def _enqueue_missing_versions(self) -> None:
        """Recover versions journaled without their intent (a crash between the two writes)."""
        with self.journal.read() as conn:
            missing = conn.execute(
                "SELECT mv.name, mv.version FROM model_versions mv WHERE NOT EXISTS ("
                "SELECT 1 FROM jfml_outbox o WHERE o.kind = ? "
                "AND o.local_id = mv.name || '/' || mv.version)",
                (outbox.PUBLISH_REGISTERED_VERSION,),
            ).fetchall()
        by_name: dict[str, list[int | str]] = {}
        for name, version in missing:
            by_name.setdefault(name, []).append(version)
        for name, versions in by_name.items():
            self._publish(name, versions)

    # --- registered models ------------------------------------------------------------------

    def create_registered_model(self, name, tags=None, description=None, deployment_job_id=None):  # type: ignore[no-untyped-def]
        model = super().create_registered_model(name, tags, description, deployment_job_id)
        with self.journal.transaction() as conn:
            outbox.enqueue(conn, outbox.ENSURE_MODEL_NAMED, name, rsync.model_payload(conn, name))
        self._nudge()
        return model

    def update_registered_model(self, name, description, deployment_job_id=None):  # type: ignore[no-untyped-def]
        model = super().update_registered_model(name, description, deployment_job_id)
        self._update_model(name)
        return model

    def set_registered_model_tag(self, name, tag):  # type: ignore[no-untyped-def]
        super().set_registered_model_tag(name, tag)
        self._update_model(name)

    def delete_registered_model_tag(self, name, key):  # type: ignore[no-untyped-def]
        super().delete_registered_model_tag(name, key)
        self._update_model(name)

    def rename_registered_model(self, name, new_name):  # type: ignore[no-untyped-def]
        model = super().rename_registered_model(name, new_name)
        with self.journal.transaction() as conn:
            _rekey(conn, name, new_name)
            pending = conn.execute(
                "SELECT local_id FROM jfml_outbox WHERE kind = ? AND state = 'pending' "
                "AND substr(local_id, 1, ?) = ?",
                (outbox.PUBLISH_REGISTERED_VERSION, len(new_name) + 1, f"{new_name}/"),
            ).fetchall()
        # The JFrog model keeps its id and takes the new name (updateModel); unsent versions
        # are re-addressed to it.
        self._publish(new_name, [local_id.rsplit("/", 1)[1] for (local_id,) in pending])
        self._update_model(new_name)
        return model

    def delete_registered_model(self, name):  # type: ignore[no-untyped-def]
        warn_once(
            "delete",
            "jfml: deleting a registered model or version in MLflow deletes it from the local "
            "journal only; JFrog ML keeps it (delete it there explicitly).",
        )
        super().delete_registered_model(name)
        self._drop_pending(name, None)

    # --- model versions ---------------------------------------------------------------------

    def create_model_version(
        self,
        name,
        source,
        run_id=None,
        tags=None,
        run_link=None,
        description=None,
        local_model_path=None,
        model_id=None,
    ):  # type: ignore[no-untyped-def]
        version = super().create_model_version(
            name, source, run_id, tags, run_link, description, local_model_path, model_id
        )
        self._publish(name, [version.version])
        return version

    def transition_model_version_stage(self, name, version, stage, archive_existing_versions):  # type: ignore[no-untyped-def]
        before = {mv.version: mv.current_stage for mv in self._versions_of(name)}
        result = super().transition_model_version_stage(
            name, version, stage, archive_existing_versions
        )
        after = {mv.version: mv.current_stage for mv in self._versions_of(name)}
        changed = [v for v, stage_now in after.items() if before.get(v) != stage_now]
        if changed:
            self._publish(name, changed)
        return result

    def update_model_version(self, name, version, description=None):  # type: ignore[no-untyped-def]
        result = super().update_model_version(name, version, description)
        self._publish(name, [version])
        return result

    def set_model_version_tag(self, name, version, tag):  # type: ignore[no-untyped-def]
        warn_once(
            "version-tags",
            "jfml: JFrog ML model versions have no tags; model version tags stay in the local "
            "journal (MLflow shows them). (warned once per process)",
        )
        super().set_model_version_tag(name, version, tag)

    def delete_model_version(self, name, version):  # type: ignore[no-untyped-def]
        warn_once(
            "delete",
            "jfml: deleting a registered model or version in MLflow deletes it from the local "
            "journal only; JFrog ML keeps it (delete it there explicitly).",
        )
        super().delete_model_version(name, version)
        self._drop_pending(name, version)

    # --- helpers ----------------------------------------------------------------------------

    def _versions_of(self, name: str) -> list[Any]:
        return list(self.search_model_versions(f"name = '{_quote(name)}'", max_results=10_000))

    def _drop_pending(self, name: str, version: int | str | None) -> None:
        """Forget unsent intents of deleted entities (sending them would resurrect them)."""
        with self.journal.transaction() as conn:
            if version is not None:
                conn.execute(
                    "DELETE FROM jfml_outbox WHERE state = 'pending' AND kind = ? AND local_id = ?",
                    (outbox.PUBLISH_REGISTERED_VERSION, rsync.version_local_id(name, version)),
                )
                return
            for kind, separator in (
                (outbox.PUBLISH_REGISTERED_VERSION, "/"),
                (rsync.UPDATE_MODEL_NAMED, "#"),
            ):
                conn.execute(
                    "DELETE FROM jfml_outbox WHERE state = 'pending' AND kind = ? "
                    "AND substr(local_id, 1, ?) = ?",
                    (kind, len(name) + 1, name + separator),
                )
            conn.execute(
                "DELETE FROM jfml_outbox WHERE state = 'pending' AND kind = ? AND local_id = ?",
                (outbox.ENSURE_MODEL_NAMED, name),
            )


def _rekey(conn: sqlite3.Connection, old: str, new: str) -> None:
    """Move the id mappings and intents of registered model ``old`` to ``new``."""
    for table in ("jfml_remote_ids", "jfml_outbox"):
        kind_column = "kind"
        conn.execute(
            f"UPDATE {table} SET local_id = ? WHERE {kind_column} IN (?, ?) AND local_id = ?",
            (new, "model_name", outbox.ENSURE_MODEL_NAMED, old),
        )
        conn.execute(
            f"UPDATE {table} SET local_id = ? || substr(local_id, ?) "
            f"WHERE {kind_column} IN (?, ?) AND substr(local_id, 1, ?) = ?",
            (
                new,
                len(old) + 1,
                "registered_version",
                outbox.PUBLISH_REGISTERED_VERSION,
                len(old) + 1,
                f"{old}/",
            ),
        )


def _is_done(conn: sqlite3.Connection, kind: str, local_id: str) -> bool:
    row = conn.execute(
        "SELECT state FROM jfml_outbox WHERE kind = ? AND local_id = ?", (kind, local_id)
    ).fetchone()
    return bool(row and row[0] == "done")


def _quote(name: str) -> str:
    return name.replace("'", "\\'")
