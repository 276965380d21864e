"""Which server a tracking URI targets, and where its journal lives.

A thin layer over :func:`jfml_tracking.config.resolve_settings`: the store and the CLI need the
ML API URL (the journal key), the mode, the journal location and the flush window.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from jfml_tracking.sync.journal import artifact_root_for, default_home, journal_path

__all__ = [
    "DEFAULT_COMMIT_INTERVAL",
    "DEFAULT_FLUSH_TIMEOUT",
    "Target",
    "commit_interval",
    "flush_timeout",
    "resolve_target",
    "strip_userinfo",
    "target_from_settings",
]

DEFAULT_FLUSH_TIMEOUT = 10.0
"""Seconds the store waits at process exit for pending items to reach JFrog ML."""
DEFAULT_COMMIT_INTERVAL = 0.05
"""Group-commit window of single metric points (seconds)."""


@dataclass(frozen=True)
class Target:
    """A resolved tracking target: the server, its journal and how to sync to it."""

    tracking_uri: str
    api_url: str
    home: Path
    offline: bool
    settings: Any

    @property
    def journal_path(self) -> Path:
        return journal_path(self.api_url, self.home)

    @property
    def artifact_root(self) -> str:
        return artifact_root_for(self.api_url, self.home)


def strip_userinfo(uri: str) -> str:
    """``uri`` without ``user:password@`` (never store or print credentials)."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    netloc = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def flush_timeout() -> float:
    """``JFML_FLUSH_TIMEOUT`` seconds (default 10; 0 disables the exit flush)."""
    raw = os.environ.get("JFML_FLUSH_TIMEOUT")
    if not raw:
        return DEFAULT_FLUSH_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(
            f"JFML_FLUSH_TIMEOUT={raw!r} is not a number of seconds; e.g. JFML_FLUSH_TIMEOUT=10"
        ) from None
    return max(0.0, value)


def commit_interval() -> float:
    """Seconds within which a single logged metric point is committed to the journal.

    ``JFML_COMMIT_INTERVAL_MS`` (default 50; 0 = commit inside every ``log_metric`` call).
    Batches, params, tags and run state are always committed before the call returns.
    """
    raw = os.environ.get("JFML_COMMIT_INTERVAL_MS", "")
    if not raw:
        return DEFAULT_COMMIT_INTERVAL
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(
            f"JFML_COMMIT_INTERVAL_MS={raw!r} is not a number of milliseconds; e.g. 50, or 0 to "
            "commit every point before log_metric returns"
        ) from None
    return max(0.0, value) / 1000


def _is_offline(settings: Any) -> bool:
    mode = getattr(settings, "mode", None)
    if mode is None:
        return os.environ.get("JFML_MODE", "online").lower() == "offline"
    return str(getattr(mode, "value", mode)).lower() == "offline"


def resolve_target(tracking_uri: str) -> Target:
    """Resolve ``tracking_uri`` (``jfml://...``) with the environment's configuration.

    Raises whatever :func:`jfml_tracking.config.resolve_settings` raises for an invalid URI.
    """
    from jfml_tracking.config import resolve_settings

    return target_from_settings(tracking_uri, resolve_settings(tracking_uri))


def target_from_settings(tracking_uri: str, settings: Any) -> Target:
    """The target for already resolved ``settings`` (a ``jfml_tracking.config.Settings``)."""
    home = getattr(settings, "home", None)
    return Target(
        tracking_uri=strip_userinfo(tracking_uri),
        api_url=str(settings.api_url).rstrip("/"),
        home=Path(home) if home else default_home(),
        offline=_is_offline(settings),
        settings=settings,
    )
