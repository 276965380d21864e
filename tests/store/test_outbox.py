"""The outbox and the metric log on a real journal file (no network)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from jfml_tracking.sync import metric_log, outbox
from jfml_tracking.sync.journal import Journal


def _journal(tmp_path: Path) -> Journal:
    journal = Journal(tmp_path / "journal.db")
    with journal.transaction() as conn:
        # The two MLflow tables the metric log folds into (the real schema's columns).
        conn.execute(
            "CREATE TABLE metrics (key, value, timestamp, run_uuid, step, is_nan, "
            "PRIMARY KEY (key, timestamp, step, run_uuid, value, is_nan))"
        )
        conn.execute(
            "CREATE TABLE latest_metrics (key, value, timestamp, step, is_nan, run_uuid, "
            "PRIMARY KEY (key, run_uuid))"
        )
    return journal


def test_two_workers_never_claim_the_same_intent(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    with journal.transaction() as conn:
        for i in range(10):
            outbox.enqueue(conn, outbox.FINISH_RUN, f"run-{i}")
    first = outbox.claim(journal, "host:1:a", limit=6)
    second = outbox.claim(journal, "host:1:b", limit=6)
    assert len(first) == 6 and len(second) == 4
    assert not {i.id for i in first} & {i.id for i in second}
    assert outbox.claim(journal, "host:1:c") == []


def test_completed_intent_stays_done_and_records_the_remote_id(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    with journal.transaction() as conn:
        outbox.enqueue(conn, outbox.FINISH_RUN, "run-1")
    [intent] = outbox.claim(journal, "me")
    assert intent.attempts == 0
    assert outbox.complete(journal, intent, "me", "exp_1", remote_parent_id="mdl_1")
    assert not outbox.complete(journal, intent, "me", "exp_2")  # a replay changes nothing
    with journal.transaction() as conn:
        outbox.enqueue(conn, outbox.FINISH_RUN, "run-1")  # the run ends again
    assert outbox.pending(journal) == []
    with journal.read() as conn:
        assert outbox.remote_id(conn, "experiment", "run-1") == "exp_1"
        assert outbox.local_id_for(conn, "experiment", "exp_1") == "run-1"


def test_failed_attempt_backs_off_and_keeps_the_error(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    with journal.transaction() as conn:
        outbox.enqueue(conn, outbox.ENSURE_MODEL, "1")
    [intent] = outbox.claim(journal, "me")
    outbox.fail(journal, intent, "me", "ConnectionFailed: refused", retry_in=60)
    assert outbox.claim(journal, "me") == []  # backing off
    [again] = outbox.claim(journal, "me", ignore_backoff=True)
    assert again.attempts == 1 and again.last_error == "ConnectionFailed: refused"


def test_lease_of_a_dead_process_can_be_taken_over(tmp_path: Path) -> None:
    import socket

    journal = _journal(tmp_path)
    with journal.transaction() as conn:
        outbox.enqueue(conn, outbox.FINISH_RUN, "run-1")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    owner = f"{socket.gethostname()}:{dead.stdout.strip()}:x"
    assert len(outbox.claim(journal, owner, lease_seconds=3600)) == 1
    [taken] = outbox.claim(journal, "me")
    assert taken.attempts == 1  # the dead worker's attempt counts: look up before creating


def test_fold_keeps_the_latest_point_and_drops_duplicates(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    with journal.transaction() as conn:
        metric_log.append(conn, "r", [("loss", 0.5, 10, 1), ("loss", 0.9, 20, 0)])
        metric_log.append(conn, "r", [("loss", 0.5, 10, 1), ("acc", 0.1, 5, 0, 0)])
    assert metric_log.fold(journal) == 4
    with journal.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM metrics").fetchone()[0] == 3
        latest = dict(conn.execute("SELECT key, value FROM latest_metrics").fetchall())
        assert conn.execute("SELECT COUNT(*) FROM jfml_metric_batches").fetchone()[0] == 0
    assert latest == {"loss": 0.5, "acc": 0.1}  # step 1 beats the later timestamp at step 0
