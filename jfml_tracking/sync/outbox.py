"""The outbox: durable sync intents and the local <-> remote id mapping, in the journal DB.

An intent is ``(kind, local_id)``, unique: enqueueing it twice is a no-op while it is pending
and after it is done. It is written in the same transaction as the journal change that causes
it (:func:`enqueue` takes the open connection). Workers claim ready intents with a lease
(:func:`claim`), so two processes never send the same intent; a sent intent records the remote
id in ``jfml_remote_ids`` (:func:`complete`), so a replay changes nothing.

States: ``pending`` (to send, maybe with ``last_error``) and ``done``. Nothing is ever dropped.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from jfml_tracking.sync.journal import Journal

__all__ = [
    "ENSURE_MODEL",
    "ENSURE_MODEL_NAMED",
    "FINISH_RUN",
    "PUBLISH_REGISTERED_VERSION",
    "PUBLISH_VERSION",
    "Intent",
    "claim",
    "complete",
    "counts",
    "defer",
    "enqueue",
    "fail",
    "leased_elsewhere",
    "local_id_for",
    "new_owner_id",
    "pending",
    "release",
    "remote_id",
    "set_remote_id",
]

# Intent kinds and the remote-id kinds they record (see ``REMOTE_KIND``).
ENSURE_MODEL = "ensure_model"  # local_id: MLflow experiment id
ENSURE_MODEL_NAMED = "ensure_model_named"  # local_id: registered model name
FINISH_RUN = "finish_run"  # local_id: MLflow run id
PUBLISH_VERSION = "publish_version"  # local_id: MLflow logged model id (m-...)
PUBLISH_REGISTERED_VERSION = "publish_registered_version"  # local_id: "<name>/<version>"

REMOTE_KIND = {
    ENSURE_MODEL: "model",
    ENSURE_MODEL_NAMED: "model_name",
    FINISH_RUN: "experiment",
    PUBLISH_VERSION: "model_version",
    PUBLISH_REGISTERED_VERSION: "registered_version",
}


@dataclass(frozen=True)
class Intent:
    """One row of the outbox."""

    id: int
    kind: str
    local_id: str
    payload: dict[str, Any] = field(default_factory=dict)
    state: str = "pending"
    attempts: int = 0
    last_error: str | None = None
    next_attempt_at: float = 0.0
    remote_id: str | None = None


_COLUMNS = "id, kind, local_id, payload, state, attempts, last_error, next_attempt_at, remote_id"


def _row_to_intent(row: tuple[Any, ...]) -> Intent:
    return Intent(
        id=row[0],
        kind=row[1],
        local_id=row[2],
        payload=json.loads(row[3] or "{}"),
        state=row[4],
        attempts=row[5],
        last_error=row[6],
        next_attempt_at=row[7],
        remote_id=row[8],
    )


def _execute(conn: Any, sql: str, params: dict[str, Any]) -> Any:
    """Run ``sql`` on a sqlite3 connection or a SQLAlchemy Session/Connection alike."""
    if type(conn).__module__.startswith("sqlalchemy"):
        import sqlalchemy

        return conn.execute(sqlalchemy.text(sql), params)
    return conn.execute(sql, params)


def enqueue(conn: Any, kind: str, local_id: str, payload: dict[str, Any] | None = None) -> None:
    """Add intent ``(kind, local_id)`` inside the caller's open transaction.

    ``conn`` is the connection of the transaction that makes the journal change (a
    ``sqlite3.Connection`` from :meth:`Journal.transaction`, or a SQLAlchemy Session or
    Connection on the same journal file). A pending intent gets the new payload; a done one
    stays done.
    """
    now = time.time()
    _execute(
        conn,
        "INSERT INTO jfml_outbox (kind, local_id, payload, created_at, updated_at) "
        "VALUES (:kind, :local_id, :payload, :now, :now) "
        "ON CONFLICT (kind, local_id) DO UPDATE SET payload = excluded.payload, "
        "updated_at = excluded.updated_at, next_attempt_at = 0 "
        "WHERE jfml_outbox.state = 'pending'",
        {"kind": kind, "local_id": local_id, "payload": json.dumps(payload or {}), "now": now},
    )


def new_owner_id() -> str:
    """A lease owner id unique to this process and syncer."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _owner_is_dead(owner: str | None) -> bool:
    """True if the lease owner is a process on this host that no longer exists."""
    if not owner:
        return True
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def leased_elsewhere(journal: Journal, owner: str) -> int:
    """How many pending intents another live worker holds a lease on right now."""
    now = time.time()
    with journal.read() as conn:
        rows = conn.execute(
            "SELECT lease_owner FROM jfml_outbox WHERE state = 'pending' AND lease_until >= ? "
            "AND lease_owner IS NOT NULL AND lease_owner != ?",
            (now, owner),
        ).fetchall()
    return sum(1 for (other,) in rows if not _owner_is_dead(other))


def release(journal: Journal, owner: str) -> None:
    """Give back every lease ``owner`` holds (a syncer stopping cleanly)."""
    with journal.transaction() as conn:
        conn.execute(
            "UPDATE jfml_outbox SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?",
            (owner,),
        )


def claim(
    journal: Journal,
    owner: str,
    *,
    limit: int = 100,
    lease_seconds: float = 300.0,
    ignore_backoff: bool = False,
    kinds_order: tuple[str, ...] = (),
) -> list[Intent]:
    """Lease up to ``limit`` ready intents to ``owner``, dependencies-first by ``kinds_order``.

    Each returned intent's ``attempts`` is the number of earlier attempts (> 0: an earlier
    attempt may have reached the server).
    """
    now = time.time()
    order = " ".join(f"WHEN '{k}' THEN {i}" for i, k in enumerate(kinds_order))
    order_sql = f"CASE kind {order} ELSE {len(kinds_order)} END, id" if order else "id"
    backoff = "" if ignore_backoff else "AND next_attempt_at <= :now "
    with journal.transaction() as conn:
        candidates = conn.execute(
            f"SELECT {_COLUMNS}, lease_owner, lease_until FROM jfml_outbox "
            f"WHERE state = 'pending' {backoff}ORDER BY {order_sql}",
            {"now": now},
        ).fetchall()
        rows = [
            row[:-2]
            for row in candidates
            if row[-1] is None or row[-1] < now or _owner_is_dead(row[-2])
        ][:limit]
        conn.executemany(
            # The attempt counts before it is made: if this process dies mid-request, the
            # next worker knows the entity may exist and looks it up before creating it.
            "UPDATE jfml_outbox SET lease_owner = ?, lease_until = ?, attempts = attempts + 1 "
            "WHERE id = ?",
            [(owner, now + lease_seconds, row[0]) for row in rows],
        )
    return [_row_to_intent(row) for row in rows]


def complete(
    journal: Journal,
    intent: Intent,
    owner: str,
    remote: str,
    *,
    remote_parent_id: str | None = None,
) -> bool:
    """Mark ``intent`` done and record its remote id; False if another worker got there first."""
    now = time.time()
    with journal.transaction() as conn:
        updated = conn.execute(
            "UPDATE jfml_outbox SET state = 'done', remote_id = ?, last_error = NULL, "
            "lease_owner = NULL, lease_until = NULL, updated_at = ? "
            "WHERE id = ? AND state = 'pending' AND lease_owner = ?",
            (remote, now, intent.id, owner),
        ).rowcount
        if updated:
            set_remote_id(
                conn,
                REMOTE_KIND.get(intent.kind, intent.kind),
                intent.local_id,
                remote,
                remote_parent_id=remote_parent_id,
            )
    return bool(updated)


def fail(journal: Journal, intent: Intent, owner: str, error: str, retry_in: float) -> None:
    """Record a failed attempt; the intent becomes ready again after ``retry_in`` seconds."""
    now = time.time()
    with journal.transaction() as conn:
        conn.execute(
            "UPDATE jfml_outbox SET last_error = ?, "
            "next_attempt_at = ?, lease_owner = NULL, lease_until = NULL, updated_at = ? "
            "WHERE id = ? AND lease_owner = ?",
            (error[:2000], now + retry_in, now, intent.id, owner),
        )


def defer(journal: Journal, intent: Intent, owner: str, reason: str, delay: float) -> None:
    """Release ``intent`` unsent because a dependency is not there yet (no attempt counted)."""
    now = time.time()
    with journal.transaction() as conn:
        conn.execute(
            "UPDATE jfml_outbox SET last_error = ?, next_attempt_at = ?, lease_owner = NULL, "
            "lease_until = NULL, updated_at = ?, attempts = MAX(attempts - 1, 0) "
            "WHERE id = ? AND lease_owner = ?",
            (reason, now + delay, now, intent.id, owner),
        )


def pending(journal: Journal) -> list[Intent]:
    """Every intent not yet sent, oldest first."""
    with journal.read() as conn:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM jfml_outbox WHERE state = 'pending' ORDER BY id"
        ).fetchall()
    return [_row_to_intent(row) for row in rows]


def counts(journal: Journal) -> dict[str, int]:
    """``{"pending": n, "done": m}``."""
    with journal.read() as conn:
        rows = conn.execute("SELECT state, COUNT(*) FROM jfml_outbox GROUP BY state").fetchall()
    result = {"pending": 0, "done": 0}
    result.update({state: n for state, n in rows})
    return result


def remote_id(conn: Any, kind: str, local_id: str) -> str | None:
    """The remote id recorded for ``(kind, local_id)``; kinds: model, model_name, experiment,
    model_version, registered_version."""
    row = _execute(
        conn,
        "SELECT remote_id FROM jfml_remote_ids WHERE kind = :kind AND local_id = :local_id",
        {"kind": kind, "local_id": local_id},
    ).fetchone()
    return row[0] if row else None


def local_id_for(conn: Any, kind: str, remote: str) -> str | None:
    """The local id mapped to remote id ``remote`` of ``kind``."""
    row = _execute(
        conn,
        "SELECT local_id FROM jfml_remote_ids WHERE kind = :kind AND remote_id = :remote",
        {"kind": kind, "remote": remote},
    ).fetchone()
    return row[0] if row else None


def set_remote_id(
    conn: Any,
    kind: str,
    local_id: str,
    remote: str,
    *,
    remote_parent_id: str | None = None,
    origin: str = "local",
) -> None:
    """Record ``local_id <-> remote`` (origin ``local``: we sent it; ``remote``: pulled)."""
    _execute(
        conn,
        "INSERT INTO jfml_remote_ids "
        "(kind, local_id, remote_id, remote_parent_id, origin, created_at) "
        "VALUES (:kind, :local_id, :remote, :parent, :origin, :now) "
        "ON CONFLICT (kind, local_id) DO UPDATE SET remote_id = excluded.remote_id, "
        "remote_parent_id = excluded.remote_parent_id",
        {
            "kind": kind,
            "local_id": local_id,
            "remote": remote,
            "parent": remote_parent_id,
            "origin": origin,
            "now": time.time(),
        },
    )
