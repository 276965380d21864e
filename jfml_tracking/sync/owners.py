"""Which process owns a running run, and whether it is still alive.

Each run created through the jfml store records ``pid``, ``hostname``, the kernel ``boot_id`` and
the process start time. ``jfml sync`` marks a RUNNING run whose owner is provably gone (same host
and boot, and the pid is dead or now belongs to another process) as FAILED, records why in the
``jfml.termination_reason`` tag, and sends it.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from jfml_tracking.sync import metric_log, outbox
from jfml_tracking.sync.journal import Journal

__all__ = ["TERMINATION_REASON_TAG", "DeadRun", "process_identity", "reap_dead_runs", "record"]

TERMINATION_REASON_TAG = "jfml.termination_reason"
_UNKNOWN = "unknown"


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return _UNKNOWN


def _start_time(pid: int) -> str:
    """The process start time in clock ticks since boot (Linux), or 'unknown'."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return _UNKNOWN
    # The command name (field 2) may contain spaces; fields after the last ')' are fixed.
    return stat.rsplit(")", 1)[1].split()[19]


def process_identity(pid: int | None = None) -> tuple[int, str, str, str]:
    """``(pid, hostname, boot_id, start_time)`` of ``pid`` (default: this process)."""
    pid = os.getpid() if pid is None else pid
    return pid, socket.gethostname(), _boot_id(), _start_time(pid)


def record(journal: Journal, run_id: str) -> None:
    """Record this process as the owner of ``run_id``."""
    pid, host, boot, start = process_identity()
    with journal.transaction() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO jfml_run_owners "
            "(run_uuid, pid, hostname, boot_id, proc_start, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (run_id, pid, host, boot, start, time.time()),
        )


def _is_dead(pid: int, host: str, boot: str, start: str) -> bool:
    if host != socket.gethostname():
        return False  # cannot tell from here
    if boot != _UNKNOWN and boot != _boot_id():
        return True  # the machine rebooted since
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    return start != _UNKNOWN and _start_time(pid) not in (start, _UNKNOWN)


@dataclass(frozen=True)
class DeadRun:
    run_id: str
    reason: str


def reap_dead_runs(journal: Journal, *, dry_run: bool = False) -> list[DeadRun]:
    """Mark RUNNING runs of dead processes FAILED and enqueue them; returns what was found."""
    with journal.read() as conn:
        rows = conn.execute(
            "SELECT r.run_uuid, o.pid, o.hostname, o.boot_id, o.proc_start FROM runs r "
            "JOIN jfml_run_owners o ON o.run_uuid = r.run_uuid "
            "WHERE r.status = 'RUNNING' AND r.lifecycle_stage = 'active'"
        ).fetchall()
    dead = []
    for run_id, pid, host, boot, start in rows:
        if pid == os.getpid() or not _is_dead(pid, host, boot, start):
            continue
        reason = (
            f"process {pid} on {host} ended without ending the run (killed or crashed); "
            "marked failed by jfml sync"
        )
        dead.append(DeadRun(run_id, reason))
        if not dry_run:
            _mark_failed(journal, run_id, reason)
    return dead


def _mark_failed(journal: Journal, run_id: str, reason: str) -> None:
    metric_log.fold(journal)
    with journal.transaction() as conn:
        last = conn.execute(
            "SELECT MAX(timestamp) FROM metrics WHERE run_uuid = ?", (run_id,)
        ).fetchone()[0]
        conn.execute(
            "UPDATE runs SET status = 'FAILED', end_time = ? WHERE run_uuid = ? "
            "AND status = 'RUNNING'",
            (last or int(time.time() * 1000), run_id),
        )
        conn.execute(
            "INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?) "
            "ON CONFLICT (key, run_uuid) DO UPDATE SET value = excluded.value",
            (TERMINATION_REASON_TAG, reason, run_id),
        )
        experiment_id = conn.execute(
            "SELECT experiment_id FROM runs WHERE run_uuid = ?", (run_id,)
        ).fetchone()[0]
        outbox.enqueue(conn, outbox.ENSURE_MODEL, str(experiment_id))
        outbox.enqueue(conn, outbox.FINISH_RUN, run_id)
