"""The MLflow tracking store plugin for ``jfml://``, ``jfml+https://`` and ``jfml+http://`` URIs.

MLflow imports this module while ``import mlflow`` runs, so it imports nothing heavy at top level;
the store class (:class:`~jfml_tracking.mlflow_plugin._journal_store.JFrogMLTrackingStore`)
is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jfml_tracking.mlflow_plugin._journal_store import JFrogMLTrackingStore

__all__ = ["JFrogMLTrackingStore", "store_from_uri"]


def store_from_uri(store_uri: str, artifact_uri: str | None = None) -> JFrogMLTrackingStore:
    """Entry point of ``mlflow.tracking_store``: the journal-backed store for ``store_uri``.

    An invalid URI raises an ``MlflowException`` naming the fix. Missing credentials do not
    stop training: the store journals locally, warns once, and ``jfml sync`` sends later.
    """
    from jfml_tracking.mlflow_plugin._resolve import open_store

    return open_store(store_uri, artifact_uri)


def __getattr__(name: str) -> Any:
    if name == "JFrogMLTrackingStore":
        from jfml_tracking.mlflow_plugin._journal_store import JFrogMLTrackingStore

        return JFrogMLTrackingStore
    raise AttributeError(name)
