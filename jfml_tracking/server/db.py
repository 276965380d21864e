"""The database seam: engine creation, SQLite tuning and transactions.

SQLite runs in WAL mode with a busy timeout. Write transactions start with ``BEGIN IMMEDIATE``:
they take the write lock up front, so two server processes on one file queue behind each other
instead of failing with "database is locked" when a deferred read lock cannot be upgraded.
Reads use a plain ``BEGIN`` and see one snapshot. PostgreSQL needs none of this; there,
uniqueness races are settled by the unique constraints and the parent-row locks the routers take.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

__all__ = ["Database", "default_db_url", "redact_db_url"]

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_MMAP_BYTES = 256 * 1024 * 1024
_WRITE_OPTION = "jfml_write"


def default_db_url(home: str | os.PathLike[str] | None = None) -> str:
    """``sqlite:///<JFML_HOME>/server.db``; ``JFML_HOME`` defaults to ``~/.jfml``."""
    base = Path(home) if home else Path(os.environ.get("JFML_HOME") or Path.home() / ".jfml")
    return f"sqlite:///{(base.expanduser() / 'server.db').resolve()}"


def redact_db_url(url: str) -> str:
    """The URL with any password replaced by ``***``, safe to print."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


class Database:
    """One engine plus session factories for read and write transactions."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self.engine = _sqlite_engine(url) if self.is_sqlite else _server_engine(url)
        write_engine = self.engine.execution_options(**{_WRITE_OPTION: True})
        self._reader = sessionmaker(bind=self.engine, expire_on_commit=False)
        self._writer = sessionmaker(bind=write_engine, expire_on_commit=False)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction over one consistent snapshot."""
        with self._reader() as session, session.begin():
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: commits when the block ends, rolls back on any exception."""
        with self._writer() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def _server_engine(url: str) -> Engine:
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _sqlite_engine(url: str) -> Engine:
    parsed = make_url(url)
    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or "mode=memory" in str(parsed.query)
    kwargs: dict[str, Any] = {
        "connect_args": {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    }
    if in_memory:
        kwargs["poolclass"] = StaticPool
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # LIFO: the most recently used connection has the warmest page cache.
        kwargs.update(pool_size=10, max_overflow=30, pool_use_lifo=True)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so BEGIN is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                _set_wal(cursor)
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # Read database pages through a memory map: no read() system call per page.
            cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _set_wal(cursor: Any) -> None:
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    except Exception as exc:  # another process is switching it at this very moment
        if "locked" not in str(exc):
            raise OperationalError("PRAGMA journal_mode=WAL", {}, exc) from exc
