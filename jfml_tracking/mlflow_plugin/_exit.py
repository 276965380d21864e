"""The bounded flush at process exit, and the one line that says what is still pending."""

from __future__ import annotations

import atexit
import contextlib
import sys
import threading
import time
from typing import Any

from jfml_tracking.sync.target import flush_timeout

__all__ = ["register", "shutdown_all"]

_stores: dict[str, Any] = {}
_lock = threading.Lock()
_registered = False


def register(store: Any) -> None:
    """Flush ``store`` (a JFrogMLTrackingStore) at exit, once per journal."""
    global _registered
    with _lock:
        _stores.setdefault(str(store.journal.path), store)
        if not _registered:
            atexit.register(_at_exit)
            _registered = True


def _end_active_runs() -> None:
    # MLflow ends the active fluent run in its own atexit hook, which was registered at import,
    # so it would run after ours; end it first so that the run's end is flushed too.
    fluent = sys.modules.get("mlflow.tracking.fluent")
    if fluent is not None:
        with contextlib.suppress(Exception):
            while fluent.active_run() is not None:
                fluent.end_run()


def _at_exit() -> None:
    _end_active_runs()
    # One window for all journals of the process, however many there are.
    deadline = time.monotonic() + flush_timeout()
    for store in list(_stores.values()):
        with contextlib.suppress(Exception):
            pending = store.flush(max(0.0, deadline - time.monotonic()))
            if pending:
                _report(store, pending)


def _report(store: Any, pending: int) -> None:
    why = store.offline_reason
    cause = f"not sent ({why})" if why else "not yet sent to JFrog ML"
    print(
        f"jfml: {pending} item(s) {cause}; they are safe in {store.journal.path}. "
        "Run `jfml sync` to send them.",
        file=sys.stderr,
        flush=True,
    )


def shutdown_all() -> None:
    """Forget every store of this process and stop its syncers, without flushing (tests)."""
    from jfml_tracking.sync import engine

    with _lock:
        stores = list(_stores.values())
        _stores.clear()
    engine.stop_all()
    for store in stores:
        with contextlib.suppress(Exception):
            store.close()
