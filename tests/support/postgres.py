"""A throw-away PostgreSQL cluster from Debian's server binaries, for the postgres tests.

``start_postgres()`` runs ``initdb`` and ``pg_ctl`` from ``/usr/lib/postgresql/*/bin`` (as the
``postgres`` OS user when we are root, since PostgreSQL refuses to run as root), with the data
directory and unix socket in a fresh temp dir and a free TCP port on 127.0.0.1. Tests skip
with ``POSTGRES_MISSING`` when the binaries are not installed (``scripts/ensure-postgres.sh``,
run by ``make test``, installs them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from tests.support.servers import free_port

__all__ = ["POSTGRES_MISSING", "PostgresCluster", "find_postgres_bin", "start_postgres"]

POSTGRES_MISSING = (
    "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin; "
    "install them with `apt-get install -y postgresql` (make test does this via "
    "scripts/ensure-postgres.sh)"
)


def find_postgres_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that has ``initdb``, if any."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return candidates[-1].parent if candidates else None


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


class PostgresCluster:
    """A running cluster; ``url`` is a SQLAlchemy URL of its ``postgres`` database."""

    def __init__(self, bin_dir: Path, root: Path, port: int) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.port = port
        self.url = self.url_for("postgres")

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "jfml") -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def stop(self) -> None:
        subprocess.run(
            [
                *_as_postgres(),
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.root / "data"),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
            capture_output=True,
            check=False,
            timeout=60,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def start_postgres() -> PostgresCluster:
    """initdb + pg_ctl start on a free port; raises RuntimeError with the log on failure."""
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        raise RuntimeError(POSTGRES_MISSING)
    root = Path(tempfile.mkdtemp(prefix="jfml-pg-"))
    (root / "sock").mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(root / "sock", "postgres", "postgres")
    run_as = _as_postgres()
    data = root / "data"
    _run(
        [
            *run_as,
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        root,
    )
    port = free_port()
    options = (
        f"-p {port} -k {root / 'sock'} -c listen_addresses=127.0.0.1 "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    _run(
        [
            *run_as,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(root / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        ],
        root,
    )
    return PostgresCluster(bin_dir, root, port)


def _run(cmd: list[str], root: Path) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        log = root / "server.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(
            f"{Path(cmd[len(_as_postgres())]).name} failed ({result.returncode}):\n"
            f"{result.stdout[-2000:]}{result.stderr[-2000:]}{tail}"
        )
