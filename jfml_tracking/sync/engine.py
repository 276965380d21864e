"""The syncer: sends outbox intents to JFrog ML, in the background or on demand.

:class:`SyncEngine` does one pass at a time (claim with a lease, send, record). A claim counts an
attempt *before* sending, so an attempt cut short by a crash is known on the next try and the
handler looks the entity up before creating it again. :class:`BackgroundSyncer` runs passes on a
daemon thread, woken when something is enqueued; :func:`flush` waits for it, bounded.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jfml_tracking.sync import handlers, outbox
from jfml_tracking.sync.journal import Journal

__all__ = [
    "DEFAULT_CONCURRENCY",
    "BackgroundSyncer",
    "PassResult",
    "SyncEngine",
    "flush",
    "stop_all",
    "syncer_for",
]

_logger = logging.getLogger(__name__)

_MAX_BACKOFF = 60.0
_NEEDS_FIX_BACKOFF = 300.0  # 4xx other than 429: retrying soon cannot help
_DEFER_DELAY = 0.2
DEFAULT_CONCURRENCY = 4
"""Requests one syncer sends at once (intents of one kind are independent)."""
_NO_HANDLER_DELAY = 60.0


@dataclass
class PassResult:
    """Outcome of one pass: how many intents were sent, failed, or waited on a dependency."""

    sent: int = 0
    failed: int = 0
    deferred: int = 0
    # failures the server answered (429, 5xx): it is up but busy or flapping, so retrying soon helps
    answered: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def claimed(self) -> int:
        return self.sent + self.failed + self.deferred


def _retry_delay(error: BaseException, attempts: int) -> float:
    from jfml_tracking.client import ConnectionFailed, JFrogMLStatusError, RateLimited, ServerError

    base: float = min(_MAX_BACKOFF, 0.5 * 2.0 ** max(0, attempts - 1)) * random.uniform(0.8, 1.2)
    retry_after = error.retry_after if isinstance(error, RateLimited) else None
    if retry_after:
        return max(base, float(retry_after))
    if isinstance(error, (ConnectionFailed, ServerError)):
        return base
    if isinstance(error, JFrogMLStatusError):
        return _NEEDS_FIX_BACKOFF
    return base


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"


class SyncEngine:
    """Sends the intents of one journal through a client made by ``client_factory``."""

    def __init__(
        self,
        journal: Journal,
        client_factory: Callable[[], Any],
        *,
        owner: str | None = None,
        lease_seconds: float = 300.0,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self.journal = journal
        self.owner = owner or outbox.new_owner_id()
        self._client_factory = client_factory
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._lease = lease_seconds
        self._concurrency = concurrency
        self._executor: ThreadPoolExecutor | None = None

    def _context(self) -> handlers.SyncContext:
        with self._client_lock:
            if self._client is None:
                self._client = self._client_factory()
        return handlers.SyncContext(journal=self.journal, client=self._client)

    def run_once(
        self,
        *,
        limit: int = 200,
        ignore_backoff: bool = False,
        on_item: Callable[[outbox.Intent, str], None] | None = None,
    ) -> PassResult:
        """Claim up to ``limit`` ready intents and send them; never raises for sync errors."""
        result = PassResult()
        intents = outbox.claim(
            self.journal,
            self.owner,
            limit=limit,
            lease_seconds=self._lease,
            ignore_backoff=ignore_backoff,
            kinds_order=handlers.kind_order(),
        )
        # Kinds go in dependency order; intents of one kind are independent and go in parallel.
        for _kind, group in itertools.groupby(intents, key=lambda i: i.kind):
            batch = list(group)
            if len(batch) == 1 or self._concurrency == 1:
                outcomes = [self._send(intent) for intent in batch]
            else:
                outcomes = list(self._pool().map(self._send, batch))
            for intent, (outcome, error, answered) in zip(batch, outcomes, strict=True):
                setattr(result, outcome, getattr(result, outcome) + 1)
                result.answered += answered
                if error:
                    result.errors.append(error)
                if on_item is not None:
                    on_item(intent, outcome)
        return result

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._concurrency, thread_name_prefix="jfml-send")
        return self._executor

    def _send(self, intent: outbox.Intent) -> tuple[str, str | None, bool]:
        """Send one intent; returns ("sent" | "deferred" | "failed", error message, whether a
        failure was the server's own transient answer)."""
        handler = handlers.HANDLERS.get(intent.kind)
        if handler is None:
            # Registered by a plugin module this process has not loaded; `jfml sync` loads all.
            reason = f"no handler for {intent.kind!r} in this process; `jfml sync` sends it"
            outbox.defer(self.journal, intent, self.owner, reason, _NO_HANDLER_DELAY)
            return "deferred", None, False
        try:
            remote, parent = handler(self._context(), intent)
        except handlers.NotReady as exc:
            outbox.defer(self.journal, intent, self.owner, str(exc), _DEFER_DELAY)
            return "deferred", None, False
        except Exception as exc:
            message = _describe(exc)
            delay = _retry_delay(exc, intent.attempts + 1)
            outbox.fail(self.journal, intent, self.owner, message, delay)
            return "failed", f"{intent.kind} {intent.local_id}: {message}", _server_answered(exc)
        if not outbox.complete(self.journal, intent, self.owner, remote, remote_parent_id=parent):
            _logger.warning("jfml: %s %s was completed by another worker", intent.kind, intent.id)
        return "sent", None, False

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        client, self._client = self._client, None
        if client is not None and hasattr(client, "close"):
            client.close()


class BackgroundSyncer:
    """Runs :class:`SyncEngine` passes on a daemon thread, woken by :meth:`nudge`."""

    def __init__(self, engine: SyncEngine, *, idle_poll: float = 5.0) -> None:
        self.engine = engine
        self._idle_poll = idle_poll
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._urgent = False
        self._idle = threading.Condition()
        self._busy = False
        self._thread = threading.Thread(target=self._loop, name="jfml-sync", daemon=True)
        self.last_error: str | None = None
        self._warned = False
        self._passes_started = 0
        self._passes_done = 0
        self._last_pass_gave_up = False

    def start(self) -> None:
        self._thread.start()

    def _warn_once(self, error: str) -> None:
        if not self._warned:
            self._warned = True
            _logger.warning(
                "jfml: could not send to JFrog ML yet (%s); the data is safe in the journal and "
                "is retried in the background (warned once; see `jfml status`).",
                error,
            )

    def nudge(self) -> None:
        """Something was enqueued: run a pass now."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._idle:
                self._busy = True
                self._passes_started += 1
            try:
                urgent, self._urgent = self._urgent, False
                result = self.engine.run_once(ignore_backoff=urgent)
                if result.errors:
                    self.last_error = result.errors[-1]
                    self._warn_once(self.last_error)
            except Exception as exc:
                self.last_error = _describe(exc)
                result = PassResult()
                _logger.debug("jfml sync pass failed", exc_info=True)
            finally:
                with self._idle:
                    self._busy = False
                    self._passes_done += 1
                    self._last_pass_gave_up = bool(result.failed) and not result.sent
                    self._idle.notify_all()
            if result.sent or result.deferred:
                continue  # progress (or a dependency just got sent): go again at once
            self._wake.wait(self._idle_poll)
            self._wake.clear()

    def flush(self, timeout: float) -> int:
        """Wait up to ``timeout`` s for the outbox to empty; returns how many are still pending.

        Returns early once every pending intent waits for a retry later than the deadline, or
        when the pass it asked for sent nothing and failed (the client had already retried).
        """
        deadline = time.monotonic() + timeout
        with self._idle:
            urgent_pass = self._passes_started + 1
        self._urgent = True
        self.nudge()
        while True:
            remaining = deadline - time.monotonic()
            pending = outbox.pending(self.journal)
            if not pending or remaining <= 0:
                return len(pending)
            if self._all_waiting_beyond(pending, remaining) and not self._busy:
                return len(pending)
            if self._passes_done >= urgent_pass and self._last_pass_gave_up:
                return len(pending)
            with self._idle:
                self._idle.wait(min(0.05, remaining))

    @staticmethod
    def _all_waiting_beyond(pending: list[outbox.Intent], remaining: float) -> bool:
        due = time.time() + remaining
        return all(i.attempts > 0 and i.next_attempt_at > due for i in pending)

    @property
    def journal(self) -> Journal:
        return self.engine.journal

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread after its current pass (waits up to ``timeout`` s)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if not self._thread.is_alive():
            with contextlib.suppress(Exception):
                outbox.release(self.engine.journal, self.engine.owner)
        self.engine.close()


_syncers: dict[Path, BackgroundSyncer] = {}
_syncers_lock = threading.Lock()


def syncer_for(journal: Journal, client_factory: Callable[[], Any]) -> BackgroundSyncer:
    """The one background syncer of this process for ``journal`` (started on first use)."""
    key = journal.path.resolve()
    with _syncers_lock:
        syncer = _syncers.get(key)
        if syncer is None:
            syncer = BackgroundSyncer(SyncEngine(journal, client_factory))
            syncer.start()
            _syncers[key] = syncer
        return syncer


def flush(journal_path: Path, timeout: float) -> int:
    """Flush this process's syncer for ``journal_path``; the pending count (no syncer: as is)."""
    with _syncers_lock:
        syncer = _syncers.get(Path(journal_path).resolve())
    if syncer is not None:
        return syncer.flush(timeout)
    journal = Journal(journal_path)
    try:
        return len(outbox.pending(journal))
    finally:
        journal.close()


def stop_all() -> None:
    """Stop every background syncer of this process (tests; interpreter shutdown)."""
    with _syncers_lock:
        syncers = list(_syncers.values())
        _syncers.clear()
    for syncer in syncers:
        syncer.stop()


def _server_answered(exc: BaseException) -> bool:
    """True for a busy or flapping server's answer (429, 5xx), not for an unreachable one."""
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and (status == 429 or status >= 500)
