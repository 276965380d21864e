"""``jfml sync``: send everything pending in the journal(s) to JFrog ML."""

from __future__ import annotations

import contextlib
import importlib
import time
from typing import Any

import click

from jfml_tracking.sync import outbox
from jfml_tracking.sync.selection import JournalRef, select_journals

__all__ = ["sync"]

_WAIT_FOR_OTHERS = 120.0
_MAX_IDLE_PASSES = 40  # x 0.25 s
_MAX_RETRY_ROUNDS = 5
_MAX_RETRY_WAIT = 10.0


def _describe(intent: outbox.Intent) -> str:
    return f"{intent.kind:<27} {intent.local_id}"


def _dry_run(ref: JournalRef) -> int:
    from jfml_tracking.sync.owners import reap_dead_runs

    journal = ref.open()
    try:
        for dead in reap_dead_runs(journal, dry_run=True):
            click.echo(f"  would mark run {dead.run_id} failed: {dead.reason}")
        items = outbox.pending(journal)
    finally:
        journal.close()
    for intent in items:
        click.echo(f"  would send {_describe(intent)}")
    return len(items)


def _client_factory(ref: JournalRef):  # type: ignore[no-untyped-def]
    from jfml_tracking.client import JFrogMLClient
    from jfml_tracking.config import ConfigurationError, resolve_settings

    try:
        settings = resolve_settings(ref.tracking_uri)
    except ConfigurationError as exc:
        raise click.ClickException(f"cannot sync {ref.path}: {exc}") from None
    return lambda: JFrogMLClient(settings)


_PLUGIN_HANDLER_MODULES = ("jfml_tracking.mlflow_plugin._registry_sync",)


def _load_plugin_handlers() -> None:
    """Import the plugin modules that register extra intent handlers (e.g. the registry's)."""
    for name in _PLUGIN_HANDLER_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def _drain(engine: Any, on_item: Any, errors: list[str]) -> None:
    """Pass after pass until nothing moves; wait for items another `jfml sync` holds, and
    retry soon-due failures a few times while the server is evidently reachable."""
    first = True
    idle = retries = sent = answered = 0
    deadline = time.monotonic() + _WAIT_FOR_OTHERS
    while True:
        result = engine.run_once(ignore_backoff=first, on_item=on_item)
        errors.extend(result.errors)
        first = False
        sent += result.sent
        answered += result.answered
        if result.sent:
            idle = 0
            continue
        just_enqueued = result.deferred and not result.failed and idle < _MAX_IDLE_PASSES
        elsewhere = outbox.leased_elsewhere(engine.journal, engine.owner)
        if (just_enqueued or elsewhere) and time.monotonic() < deadline:
            idle += 1
            time.sleep(0.25)  # a dependency was just enqueued, or another process sends these
            continue
        due = _next_retry_in(engine)
        reachable = sent or answered
        if reachable and due is not None and due <= _MAX_RETRY_WAIT and retries < _MAX_RETRY_ROUNDS:
            retries += 1  # a flapping server: it answered before, so try again shortly
            time.sleep(due)
            continue
        return


def _next_retry_in(engine: Any) -> float | None:
    waits = [i.next_attempt_at - time.time() for i in outbox.pending(engine.journal)]
    return max(0.0, min(waits)) if waits else None


def _sync_one(ref: JournalRef) -> tuple[int, list[str]]:
    """Send what is pending in one journal; returns (still pending, errors)."""
    from jfml_tracking.sync.engine import SyncEngine
    from jfml_tracking.sync.owners import reap_dead_runs

    _load_plugin_handlers()
    factory = _client_factory(ref)
    journal = ref.open()
    engine = SyncEngine(journal, factory)
    errors: list[str] = []
    try:
        for dead in reap_dead_runs(journal):
            click.echo(f"  run {dead.run_id}: {dead.reason}")
        total = len(outbox.pending(journal))
        with click.progressbar(length=total, label="  sending", show_pos=True) as bar:
            _drain(engine, lambda _i, how: bar.update(how == "sent"), errors)
        return len(outbox.pending(journal)), errors
    finally:
        engine.close()
        journal.close()


@click.command()
@click.option("--uri", "tracking_uri", help="Tracking URI of the journal (default: all journals).")
@click.option("--dry-run", is_flag=True, help="Show what would be sent; send nothing.")
def sync(tracking_uri: str | None, dry_run: bool) -> None:
    """Send everything pending in the local journal(s) to JFrog ML.

    Runs of processes that died are sent as failed, with the reason recorded. Exits non-zero
    if anything is still pending afterwards (see `jfml status`).
    """
    from jfml_tracking.config import ConfigurationError

    try:
        refs = select_journals(tracking_uri)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    if not refs:
        click.echo("jfml: no journal found; nothing to sync.")
        return
    left = 0
    for ref in refs:
        click.echo(f"{ref.tracking_uri or '(unknown server)'}  journal {ref.path}")
        if dry_run:
            click.echo(f"  {_dry_run(ref)} item(s) pending (dry run: nothing sent)")
            continue
        pending, errors = _sync_one(ref)
        left += pending
        for error in errors[-5:]:
            click.echo(f"  error: {error}", err=True)
        click.echo(f"  {pending} item(s) still pending" if pending else "  all sent")
    if left:
        raise click.ClickException(
            f"{left} item(s) still pending; see `jfml status` for the errors, fix them, and run "
            "`jfml sync` again."
        )
