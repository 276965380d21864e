"""The journal: one private SQLite file per target server, the source of truth for MLflow reads.

Layout under ``JFML_HOME`` (default ``~/.jfml``)::

    journals/<server-slug>/journal.db      MLflow's SqlAlchemyStore schema + the jfml_* tables
    journals/<server-slug>/artifacts/      default artifact root (unless JFML_ARTIFACT_ROOT)

The database runs in WAL mode. Every write through :class:`Journal` commits before the call
returns, so it survives ``kill -9`` of the process. With the default ``synchronous=NORMAL``
the last commits may be lost on power loss or an OS crash; ``JFML_JOURNAL_SYNC=FULL`` fsyncs
every commit instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "JOURNAL_FILENAME",
    "Journal",
    "artifact_root_for",
    "default_home",
    "install_sqlalchemy_engine",
    "journal_dir",
    "journal_path",
    "list_journals",
    "sqlite_sync_mode",
]

JOURNAL_FILENAME = "journal.db"
_BUSY_TIMEOUT_MS = 30_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jfml_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    local_id TEXT NOT NULL,
    payload TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until REAL,
    last_error TEXT,
    remote_id TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (kind, local_id)
);
CREATE INDEX IF NOT EXISTS jfml_outbox_ready ON jfml_outbox (state, next_attempt_at);
CREATE TABLE IF NOT EXISTS jfml_remote_ids (
    kind TEXT NOT NULL,
    local_id TEXT NOT NULL,
    remote_id TEXT NOT NULL,
    remote_parent_id TEXT,
    origin TEXT NOT NULL DEFAULT 'local',
    created_at REAL NOT NULL,
    PRIMARY KEY (kind, local_id)
);
CREATE INDEX IF NOT EXISTS jfml_remote_ids_remote ON jfml_remote_ids (kind, remote_id);
CREATE TABLE IF NOT EXISTS jfml_run_owners (
    run_uuid TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    hostname TEXT NOT NULL,
    boot_id TEXT NOT NULL,
    proc_start TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jfml_metric_batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_uuid TEXT NOT NULL,
    rows TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jfml_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def default_home() -> Path:
    """``JFML_HOME`` or ``~/.jfml``."""
    home = os.environ.get("JFML_HOME")
    return Path(home).expanduser() if home else Path.home() / ".jfml"


def _slug(api_url: str) -> str:
    parts = urlsplit(api_url)
    host = (parts.hostname or "local").lower()
    readable = re.sub(r"[^a-z0-9.]+", "-", f"{host}-{parts.port or ''}").strip("-")
    # Host alone is not unique (ports, paths, schemes); the digest keeps journals apart.
    digest = hashlib.sha256(api_url.rstrip("/").encode()).hexdigest()[:10]
    return f"{readable}-{digest}"


def journal_dir(api_url: str, home: Path | None = None) -> Path:
    """The directory holding the journal of the server whose ML API base is ``api_url``."""
    return (home or default_home()) / "journals" / _slug(api_url)


def journal_path(api_url: str, home: Path | None = None) -> Path:
    """Path of the journal database for the server at ``api_url`` (one journal per server)."""
    return journal_dir(api_url, home) / JOURNAL_FILENAME


def artifact_root_for(api_url: str, home: Path | None = None) -> str:
    """Default artifact root: ``JFML_ARTIFACT_ROOT`` or ``artifacts/`` next to the journal."""
    configured = os.environ.get("JFML_ARTIFACT_ROOT")
    if configured:
        return configured
    return str(journal_dir(api_url, home) / "artifacts")


def list_journals(home: Path | None = None) -> list[Path]:
    """Every journal database under ``home`` (default ``JFML_HOME``)."""
    root = (home or default_home()) / "journals"
    return sorted(root.glob(f"*/{JOURNAL_FILENAME}")) if root.is_dir() else []


def sqlite_sync_mode() -> str:
    """``synchronous`` pragma for journal connections: ``JFML_JOURNAL_SYNC`` (default NORMAL)."""
    mode = os.environ.get("JFML_JOURNAL_SYNC", "NORMAL").upper()
    if mode not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
        raise ValueError(
            f"JFML_JOURNAL_SYNC={mode!r} is not a SQLite synchronous mode; "
            "use NORMAL (default) or FULL."
        )
    return mode


def configure_connection(conn: sqlite3.Connection) -> None:
    """Pragmas every journal connection uses (raw sqlite3 and SQLAlchemy alike)."""
    conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {sqlite_sync_mode()}")


class Journal:
    """A thread-safe raw connection to one journal database.

    Use :meth:`transaction` for writes (``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back on any
    exception) and :meth:`read` for consistent reads. One connection is shared by all threads of
    the process under a lock, which is what SQLite serialises to anyway.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = self._connect()
        self._conn.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        self._pid = os.getpid()
        conn = sqlite3.connect(
            str(self.path),
            timeout=_BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        configure_connection(conn)
        return conn

    def _connection(self) -> sqlite3.Connection:
        # A forked child (DataLoader worker, multiprocessing) must not use the parent's
        # SQLite connection: it gets its own.
        if self._pid != os.getpid():
            self._lock = threading.RLock()
            self._conn = self._connect()
        return self._conn

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; commits on exit, rolls back on exception."""
        conn = self._connection()
        with self._lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """The shared connection for reads (each statement sees the latest commit)."""
        conn = self._connection()
        with self._lock:
            yield conn

    def get_meta(self, key: str) -> str | None:
        with self.read() as conn:
            row = conn.execute("SELECT value FROM jfml_meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO jfml_meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()


# --- creating a journal ------------------------------------------------------------------------


def _template_path() -> Path:
    import mlflow

    uid = os.getuid() if hasattr(os, "getuid") else 0
    name = f"jfml-journal-template-mlflow{mlflow.__version__}-{uid}.db"
    return Path(tempfile.gettempdir()) / name


def _build_template(template: Path) -> None:
    """Run MLflow's migrations once into ``template`` (they take seconds; copies are instant)."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    with tempfile.TemporaryDirectory(dir=template.parent) as tmp:
        scratch = Path(tmp) / "journal.db"
        store = SqlAlchemyStore(f"sqlite:///{scratch}", str(Path(tmp) / "artifacts"))
        store.engine.dispose()
        SqlAlchemyStore._engine_map.pop(f"sqlite:///{scratch}", None)
        with contextlib.closing(sqlite3.connect(str(scratch))) as conn:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(_SCHEMA)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        os.replace(scratch, template)


def create_journal_file(path: Path, default_experiment_location: str) -> None:
    """Create the journal database at ``path`` if missing, with MLflow's current schema.

    ``default_experiment_location`` is the artifact location of experiment 0.
    """
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    template = _template_path()
    if not template.exists():
        _build_template(template)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_bytes(template.read_bytes())
    with contextlib.closing(sqlite3.connect(str(partial))) as conn:
        # The template's default experiment points at the template's scratch artifact root.
        now = int(time.time() * 1000)
        location = default_experiment_location
        conn.execute(
            "UPDATE experiments SET artifact_location = ?, creation_time = ?, "
            "last_update_time = ? WHERE experiment_id = 0",
            (location, now, now),
        )
        conn.commit()
    try:
        os.link(partial, path)  # atomic, and fails if another process won the race
    except FileExistsError:
        pass
    except OSError:
        # No hard links on this filesystem: a rename is atomic too (a racing creator's
        # identical empty journal may be replaced, before anything was written to it).
        if not path.exists():
            os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def install_sqlalchemy_engine(store_cls: Any, db_uri: str) -> None:
    """Give one of MLflow's SqlAlchemyStore classes (tracking or registry) an engine for the
    journal whose connections carry :func:`configure_connection`'s pragmas, once per URI."""
    import sqlalchemy

    with store_cls._engine_map_lock:
        if db_uri in store_cls._engine_map:
            return
        engine = sqlalchemy.create_engine(
            db_uri, connect_args={"check_same_thread": False, "timeout": 30}
        )

        @sqlalchemy.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
            configure_connection(dbapi_conn)

        store_cls._engine_map[db_uri] = engine
