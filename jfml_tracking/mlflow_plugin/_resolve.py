"""Resolving a ``jfml`` tracking URI into a store, with clear errors for bad input."""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any

__all__ = ["open_store"]

_logger = logging.getLogger(__name__)
_lock = threading.Lock()


def _target_without_credentials(store_uri: str, reason: str) -> Any:
    """The target of ``store_uri`` when only its credentials are missing; else raise."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    from jfml_tracking.config import ConfigurationError, resolve_settings
    from jfml_tracking.sync.target import target_from_settings

    try:
        # A placeholder token tells "no credentials" apart from a bad URI or bad settings;
        # it is never sent: the store built from this target does not sync.
        settings = resolve_settings(store_uri, token="placeholder-never-sent")
    except ConfigurationError as exc:
        raise MlflowException(f"jfml: {exc}", INVALID_PARAMETER_VALUE) from None
    _logger.warning(
        "jfml: %s Until then runs are journaled locally only; `jfml sync` sends them later.",
        reason,
    )
    return dataclasses.replace(target_from_settings(store_uri, settings), settings=None)


def open_store(store_uri: str, artifact_uri: str | None) -> Any:
    """A ``JFrogMLTrackingStore`` for ``store_uri`` (one journal per target server)."""
    from jfml_tracking.config import ConfigurationError
    from jfml_tracking.mlflow_plugin._journal_store import JFrogMLTrackingStore
    from jfml_tracking.sync.target import resolve_target

    reason = ""
    try:
        target = resolve_target(store_uri)
    except ConfigurationError as exc:
        reason = str(exc)
        target = _target_without_credentials(store_uri, reason)
    with _lock:
        return JFrogMLTrackingStore(target, artifact_uri, offline_reason=reason)
