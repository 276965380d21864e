"""Real model serving for the reference server's deployments.

``ProcessRuntime`` implements ``jfml_tracking.server.runtime.DeploymentRuntime``: each
deployment's model version (an MLflow model at the version's ``artifact_path``) is loaded with
``mlflow.pyfunc`` in ``replicas`` worker processes, each running MLflow's scoring server on
127.0.0.1. The ASGI app the server mounts at ``/serving`` answers
``POST /serving/v1/deployments/{id}/invocations`` round-robin over the live workers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jfml_tracking.server.serving._deployment import ServingLimits
    from jfml_tracking.server.serving._runtime import ProcessRuntime, invocations_url

__all__ = ["ProcessRuntime", "ServingLimits", "invocations_url"]


def __getattr__(name: str) -> Any:
    # Lazy: every worker process imports this package on its way to ``_worker``, and should
    # not pay for the runtime's imports (pydantic schemas, starlette) before loading its model.
    if name == "ServingLimits":
        from jfml_tracking.server.serving._deployment import ServingLimits

        return ServingLimits
    if name in ("ProcessRuntime", "invocations_url"):
        from jfml_tracking.server.serving import _runtime

        return getattr(_runtime, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
