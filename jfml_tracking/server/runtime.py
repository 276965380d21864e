"""How the reference server runs deployments: the seam between the API and model serving.

The deployments router records a deployment, then hands it to a ``DeploymentRuntime``. The
runtime owns everything about serving: loading the model, worker processes, health checks and
the prediction endpoint. It reports back through ``describe()``; the router turns that into the
contract's ``status`` and ``endpoint_url``.

``ImmediateRuntime`` is the minimal runtime: it serves nothing and reports every deployment
``active`` at once. ``jfml_tracking.server.serving`` provides the real one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from jfml_tracking.api import DeploymentStatus

__all__ = [
    "DeploymentRuntime",
    "DeploymentSpec",
    "ImmediateRuntime",
    "RuntimeState",
    "default_runtime",
]


@dataclass(frozen=True)
class DeploymentSpec:
    """What a runtime needs to serve one deployment."""

    deployment_id: str
    name: str
    model_id: str
    model_version_id: str
    artifact_path: str | None
    replicas: int = 1
    resources: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RuntimeState:
    status: DeploymentStatus
    endpoint_url: str | None = None
    reason: str | None = None


class DeploymentRuntime(Protocol):
    def start(self, spec: DeploymentSpec, *, base_url: str) -> RuntimeState:
        """Begin serving ``spec``; must return quickly (``deploying`` is a fine answer)."""

    def stop(self, deployment_id: str) -> None:
        """Stop serving and release every resource of the deployment; idempotent."""

    def describe(self, deployment_id: str) -> RuntimeState | None:
        """Current state, or None when this runtime does not know the deployment."""

    def asgi_app(self) -> Any | None:
        """An ASGI app the server mounts at ``/serving``, or None."""

    def close(self) -> None:
        """Stop every deployment; called once at server shutdown."""


class ImmediateRuntime:
    """Serves nothing; every deployment is ``active`` immediately."""

    def __init__(self) -> None:
        self._states: dict[str, RuntimeState] = {}

    def start(self, spec: DeploymentSpec, *, base_url: str) -> RuntimeState:
        state = RuntimeState(
            DeploymentStatus.ACTIVE,
            endpoint_url=f"{base_url.rstrip('/')}/serving/v1/deployments/{spec.deployment_id}/invocations",
        )
        self._states[spec.deployment_id] = state
        return state

    def stop(self, deployment_id: str) -> None:
        self._states.pop(deployment_id, None)

    def describe(self, deployment_id: str) -> RuntimeState | None:
        return self._states.get(deployment_id)

    def asgi_app(self) -> Any | None:
        return None

    def close(self) -> None:
        self._states.clear()


def default_runtime() -> DeploymentRuntime:
    """The real serving runtime when it is available, else ``ImmediateRuntime``."""
    try:
        from jfml_tracking.server.serving import ProcessRuntime
    except ImportError:
        return ImmediateRuntime()
    runtime: DeploymentRuntime = ProcessRuntime()
    return runtime
