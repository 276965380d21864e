"""Choosing the journals a ``jfml sync``/``jfml status`` run works on."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from jfml_tracking.sync.journal import Journal, list_journals

__all__ = ["JournalRef", "select_journals"]


@dataclass(frozen=True)
class JournalRef:
    """A journal on disk and the tracking URI it was written for."""

    path: Path
    tracking_uri: str | None
    api_url: str | None

    def open(self) -> Journal:
        return Journal(self.path)


def _ref(path: Path) -> JournalRef:
    journal = Journal(path)
    try:
        return JournalRef(path, journal.get_meta("tracking_uri"), journal.get_meta("api_url"))
    finally:
        journal.close()


def select_journals(tracking_uri: str | None = None) -> list[JournalRef]:
    """The journal of ``tracking_uri`` (or of a jfml ``MLFLOW_TRACKING_URI``), else all of them.

    Raises ``jfml_tracking.config.ConfigurationError`` for an invalid URI.
    """
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
    if uri.lower().startswith("jfml"):
        from jfml_tracking.config import ConfigurationError, resolve_settings
        from jfml_tracking.sync.journal import journal_path

        try:
            api_url = resolve_settings(uri).api_url
        except ConfigurationError:  # no credentials: the journal can still be located
            api_url = resolve_settings(uri, token="placeholder-never-sent").api_url
        path = journal_path(api_url.rstrip("/"))
        return [_ref(path)] if path.exists() else []
    return [_ref(path) for path in list_journals()]
