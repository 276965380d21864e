"""The MLflow model-registry store plugin for ``jfml://``, ``jfml+https://`` and ``jfml+http://``.

Registered models and versions live in the same journal as the tracking data (MLflow's registry
schema on the journal's SQLite file) and are sent to JFrog ML as models and model versions by
the background syncer. See :mod:`jfml_tracking.mlflow_plugin._registry_store` for the mapping.

Nothing heavy is imported here: the store class is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jfml_tracking.mlflow_plugin._registry_store import JFrogMLRegistryStore

__all__ = ["JFrogMLRegistryStore", "registry_store_from_uri"]


def registry_store_from_uri(store_uri: str) -> JFrogMLRegistryStore:
    """Entry point of ``mlflow.model_registry_store``: the journal-backed registry store.

    It shares the journal, the background syncer and the exit flush of the jfml tracking store
    of the same URI.
    """
    from jfml_tracking.mlflow_plugin._registry_store import JFrogMLRegistryStore

    return JFrogMLRegistryStore(store_uri)


def tracking_store_for(store_uri: str) -> Any:
    """MLflow's cached tracking store for ``store_uri`` (it is a jfml URI, so ours)."""
    from mlflow.tracking._tracking_service.utils import _get_store

    store = _get_store(store_uri)
    if hasattr(store, "journal"):
        return store
    from jfml_tracking.mlflow_plugin._resolve import open_store

    return open_store(store_uri, None)


def __getattr__(name: str) -> Any:
    if name == "JFrogMLRegistryStore":
        from jfml_tracking.mlflow_plugin._registry_store import JFrogMLRegistryStore

        return JFrogMLRegistryStore
    raise AttributeError(name)
