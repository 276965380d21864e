"""Real model serving for the reference server's deployments.

``ProcessRuntime`` implements ``jfml_tracking.server.runtime.DeploymentRuntime``: each
deployment's model version (an MLflow model at the version's ``artifact_path``) is loaded with
``mlflow.pyfunc`` in ``replicas`` worker processes, each running MLflow's scoring server on
127.0.0.1. The ASGI app the server mounts at ``/serving`` answers
``POST /serving/v1/deployments/{id}/invocations`` round-robin over the live workers.
"""

from jfml_tracking.server.serving._deployment import ServingLimits
from jfml_tracking.server.serving._runtime import ProcessRuntime, invocations_url

__all__ = ["ProcessRuntime", "ServingLimits", "invocations_url"]
