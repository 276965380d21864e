"""``jfml status``: what is pending in the journal(s), with each item's last error."""

from __future__ import annotations

import datetime

import click

from jfml_tracking.sync import mapping, outbox
from jfml_tracking.sync.selection import JournalRef, select_journals

__all__ = ["status"]


def _when(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp).strftime("%H:%M:%S")


def _show(ref: JournalRef) -> int:
    from jfml_tracking.sync.owners import reap_dead_runs

    journal = ref.open()
    try:
        counts = outbox.counts(journal)
        items = outbox.pending(journal)
        dead = reap_dead_runs(journal, dry_run=True)
        with journal.read() as conn:
            labels = {i.id: mapping.describe(conn, i.kind, i.local_id) for i in items}
    finally:
        journal.close()
    click.echo(f"{ref.tracking_uri or '(unknown server)'}  journal {ref.path}")
    click.echo(f"  {counts['pending']} pending, {counts['done']} sent")
    for intent in items:
        line = f"  {intent.kind:<27} {intent.local_id}  {labels[intent.id]}"
        line += f"  attempts={intent.attempts}"
        if intent.next_attempt_at and intent.attempts:
            line += f"  next try {_when(intent.next_attempt_at)}"
        click.echo(line)
        if intent.last_error:
            click.echo(f"      last error: {intent.last_error}")
    for run in dead:
        click.echo(f"  run {run.run_id} belongs to a dead process; `jfml sync` sends it as failed")
    return counts["pending"]


@click.command()
@click.option("--uri", "tracking_uri", help="Tracking URI of the journal (default: all journals).")
def status(tracking_uri: str | None) -> None:
    """List the items not yet sent to JFrog ML, with the last error of each."""
    from jfml_tracking.config import ConfigurationError

    try:
        refs = select_journals(tracking_uri)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    if not refs:
        click.echo("jfml: no journal found (nothing tracked yet).")
        return
    total = sum(_show(ref) for ref in refs)
    if total:
        click.echo(f"{total} item(s) pending; run `jfml sync` to send them.")
    else:
        click.echo("Everything is in sync.")
