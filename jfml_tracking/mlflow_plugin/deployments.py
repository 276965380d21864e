"""The ``jfml`` target of ``mlflow.deployments``: deploy registered versions to JFrog ML.

``get_deploy_client("jfml")`` or ``mlflow deployments <command> -t jfml``. Target URIs:

- ``jfml``: the server of the current ``jfml`` tracking URI (``MLFLOW_TRACKING_URI``), else
  the platform URL from the environment (``JF_URL``), exactly like the tracking URI ``jfml:``;
- ``jfml://acme`` (``https://acme.jfrog.io``), ``jfml+https://host[:port][/path]`` and
  ``jfml+http://127.0.0.1:PORT`` (loopback only), resolved with the client's configuration
  (credentials from ``JF_ACCESS_TOKEN``, ``JF_USER``/``JF_PASSWORD``, the frogml or JFrog CLI
  config).

See :func:`target_help` for the ``-C`` options and what ``update`` does.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from mlflow.deployments import BaseDeploymentClient, PredictionsResponse
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
)

from jfml_tracking.mlflow_plugin._deployments_io import (
    check_flavor,
    int_option,
    parse_config,
    scoring_payload,
)
from jfml_tracking.mlflow_plugin._registry_resolve import (
    UnresolvableModelURI,
    parse_models_uri,
    resolve_version,
)

__all__ = [
    "JFrogMLDeploymentClient",
    "parse_config",
    "run_local",
    "scoring_payload",
    "target_help",
]


_HELP = """\
Target 'jfml': deploy MLflow registered model versions to JFrog ML deployments.

Target URIs
  jfml                          the server of the current jfml tracking URI, else JF_URL
  jfml://acme                   https://acme.jfrog.io
  jfml+https://host[:port]/path any JFrog platform URL
  jfml+http://127.0.0.1:PORT    a local `jfml server` (loopback only)
Credentials come from the usual places: JF_ACCESS_TOKEN, JF_USER + JF_PASSWORD,
JF_ACCESS_TOKEN_FILE, ~/.frogml/config.json, the JFrog CLI config.

Model URIs (-m)
  models:/NAME/VERSION   models:/NAME@ALIAS   models:/NAME/Production   models:/NAME/latest
  models:/m-<id>         a logged model (its JFrog model version)

Config (-C key=value)
  replicas=N     worker processes serving the model (default 1)
  cpu=1          CPU per replica (e.g. 1, 500m); the reference server caps thread pools by it
  memory=2Gi     memory per replica; recorded, enforced by JFrog ML, not by the reference server
  gpu=0          GPUs per replica; with 0 the reference server hides GPUs from the workers
  wait=true      wait until the deployment is active (or failed); false returns at once
  timeout=300    seconds to wait for the deployment (and for a just-registered version to sync)

Commands
  create   deploy a version; fails if a deployment of that name exists
  update   the JFrog ML API has no update: the old deployment is deleted and a new one with
           the same name is created (model from -m, or the old version; config from -C, or
           the old replicas). If the new one fails, the old version is deployed again and the
           error is raised. Expect a short gap in serving.
  delete, get, list
  predict  --input-path FILE with an MLflow scoring payload ({"dataframe_split": ...},
           "dataframe_records", "instances", "inputs") or a plain records list; the request
           carries your JFrog credentials when the endpoint is on the same server.
run_local (mlflow deployments run-local -t jfml --name N -m URI [-C port=5000 -C host=...])
  serves the model in the foreground with MLflow's scoring server, no JFrog ML involved.
"""


def target_help() -> str:
    """Help shown by ``mlflow deployments help -t jfml``."""
    return _HELP


def run_local(
    name: str,
    model_uri: str,
    flavor: str | None = None,
    config: dict[str, Any] | None = None,
) -> None:
    """Serve ``model_uri`` in the foreground with MLflow's scoring server (no JFrog ML).

    MLflow calls it as ``run_local(name, model_uri, flavor, config)`` (no target argument).

    ``-C port=5000 -C host=127.0.0.1``. The model is loaded into this process, as the
    reference server's workers do, so the answers are the ones a deployment gives.
    """
    import uvicorn
    from mlflow.pyfunc import load_model, scoring_server

    check_flavor(flavor)
    config = dict(config or {})
    port = int_option(config, "port", 5000, minimum=0)
    host = str(config.get("host", "127.0.0.1"))
    app = scoring_server.init(load_model(model_uri))
    print(f"Serving {name!r} ({model_uri}) on http://{host}:{port}/invocations; Ctrl-C to stop.")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def tracking_uri_for_target(target_uri: str) -> str:
    """The ``jfml`` tracking URI a deployment target stands for."""
    if target_uri.strip() in ("jfml", "jfml:", "jfml:/"):
        import mlflow

        current = mlflow.get_tracking_uri()
        return current if current.split(":", 1)[0].startswith("jfml") else "jfml:"
    return target_uri


@contextlib.contextmanager
def _mlflow_errors() -> Iterator[None]:
    """Client and configuration errors as MlflowExceptions with the right error code."""
    from jfml_tracking.client import Conflict, JFrogMLError, NotFound, ValidationFailed
    from jfml_tracking.config import ConfigurationError

    try:
        yield
    except NotFound as exc:
        raise MlflowException(str(exc), RESOURCE_DOES_NOT_EXIST) from None
    except Conflict as exc:
        raise MlflowException(str(exc), RESOURCE_ALREADY_EXISTS) from None
    except ValidationFailed as exc:
        raise MlflowException(str(exc), INVALID_PARAMETER_VALUE) from None
    except (UnresolvableModelURI, ConfigurationError) as exc:
        raise MlflowException(str(exc), INVALID_PARAMETER_VALUE) from None
    except JFrogMLError as exc:
        raise MlflowException(f"JFrog ML request failed: {exc}") from None


class JFrogMLDeploymentClient(BaseDeploymentClient):
    """Deployments on JFrog ML through its REST API (see the module docstring)."""

    def __init__(self, target_uri: str) -> None:
        super().__init__(target_uri)
        self.tracking_uri = tracking_uri_for_target(target_uri)
        self._client: Any | None = None
        self._http: Any | None = None
        self._endpoints: dict[str, str] = {}

    # --- plumbing -----------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The ``JFrogMLClient`` for this target, created on first use."""
        if self._client is None:
            from jfml_tracking.client import JFrogMLClient

            with _mlflow_errors():
                self._client = JFrogMLClient.from_tracking_uri(self.tracking_uri)
        return self._client

    def _find(self, name: str) -> Any:
        found = next((d for d in self.client.iter_deployments() if d.name == name), None)
        if found is None:
            raise MlflowException(
                f"No deployment named {name!r} on {self.target_uri}; "
                "see `mlflow deployments list -t jfml`.",
                RESOURCE_DOES_NOT_EXIST,
            )
        return found

    def _resolve(self, model_uri: str, timeout: float) -> Any:
        from jfml_tracking.mlflow_plugin._registry_sync import flush_journal, journal_for

        journal = journal_for(self.tracking_uri)
        return resolve_version(
            parse_models_uri(model_uri),
            client=self.client,
            registry_uri=self.tracking_uri,
            journal_path=journal,
            timeout=timeout,
            flush=(lambda seconds: flush_journal(self.tracking_uri, seconds)) if journal else None,
        )

    def _wait(self, deployment: Any, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while str(deployment.status) == "deploying" and time.monotonic() < deadline:
            time.sleep(0.25)
            deployment = self.client.get_deployment(deployment.id)
        return deployment

    def _deploy(self, name: str, resolved: Any, options: dict[str, Any]) -> Any:
        request: dict[str, Any] = {
            "name": name,
            "model_id": resolved.model_id,
            "model_version_id": resolved.model_version_id,
            "replicas": options["replicas"],
        }
        if options["resources"]:
            request["resources"] = options["resources"]
        deployment = self.client.create_deployment(**request)
        return self._wait(deployment, options["timeout"]) if options["wait"] else deployment

    # --- the plugin API -----------------------------------------------------------------

    def create_deployment(
        self,
        name: str,
        model_uri: str,
        flavor: str | None = None,
        config: dict[str, Any] | None = None,
        endpoint: str | None = None,
    ) -> dict[str, Any]:
        """Deploy the registered version ``model_uri`` as ``name``; see :func:`target_help`."""
        check_flavor(flavor)
        options = parse_config(config)
        with _mlflow_errors():
            if any(d.name == name for d in self.client.iter_deployments()):
                raise MlflowException(
                    f"A deployment named {name!r} already exists; use `mlflow deployments "
                    "update` to change it or delete it first.",
                    RESOURCE_ALREADY_EXISTS,
                )
            resolved = self._resolve(model_uri, options["timeout"])
            deployment = self._deploy(name, resolved, options)
        _raise_if_failed(deployment, f"{resolved.description} did not deploy")
        return {"flavor": "python_function", **deployment_dict(deployment)}

    def update_deployment(
        self,
        name: str,
        model_uri: str | None = None,
        flavor: str | None = None,
        config: dict[str, Any] | None = None,
        endpoint: str | None = None,
    ) -> dict[str, Any]:
        """Replace deployment ``name`` (delete, then create); restores the old one on failure."""
        check_flavor(flavor)
        self._endpoints.pop(name, None)
        with _mlflow_errors():
            old = self._find(name)
            options = parse_config(config, default_replicas=old.replicas or 1)
            if model_uri:
                resolved = self._resolve(model_uri, options["timeout"])
            else:
                resolved = _Resolved(old.model_id, old.model_version_id, f"{name}'s version")
            self.client.delete_deployment(old.id)
            new = self._deploy(name, resolved, {**options, "wait": True})
            if str(new.status) != "active":
                reason = _reason(new)
                self.client.delete_deployment(new.id)
                previous = _Resolved(old.model_id, old.model_version_id, "previous version")
                restore = {**options, "replicas": old.replicas or 1, "resources": {}}
                self._deploy(name, previous, {**restore, "wait": False})
                raise MlflowException(
                    f"Update of {name!r} failed ({resolved.description}: {reason}); "
                    "the previous version was deployed again."
                )
        return {"flavor": "python_function", **deployment_dict(new)}

    def delete_deployment(
        self, name: str, config: dict[str, Any] | None = None, endpoint: str | None = None
    ) -> None:
        """Delete deployment ``name``; its workers stop."""
        self._endpoints.pop(name, None)
        with _mlflow_errors():
            self.client.delete_deployment(self._find(name).id)

    def list_deployments(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        """Every deployment on the server."""
        with _mlflow_errors():
            return [deployment_dict(d) for d in self.client.iter_deployments()]

    def get_deployment(self, name: str, endpoint: str | None = None) -> dict[str, Any]:
        """One deployment by name, with its current status."""
        with _mlflow_errors():
            found = self._find(name)
            return deployment_dict(self.client.get_deployment(found.id))

    def predict(
        self,
        deployment_name: str | None = None,
        inputs: Any = None,
        endpoint: str | None = None,
    ) -> PredictionsResponse:
        """Score ``inputs`` (DataFrame, ndarray, list, or an MLflow scoring payload dict)."""
        if not deployment_name:
            raise MlflowException("predict needs --name (the deployment).", INVALID_PARAMETER_VALUE)
        body = scoring_payload(inputs)
        cached = self._endpoints.get(deployment_name)
        answer = self._post(cached or self._endpoint(deployment_name), body)
        if cached and answer.status_code in (404, 503):
            # Replaced or stopped since we looked it up: look again, once.
            self._endpoints.pop(deployment_name, None)
            answer = self._post(self._endpoint(deployment_name), body)
        if answer.status_code >= 400:
            raise MlflowException(
                f"Prediction failed ({answer.status_code}): {_error_message(answer)}",
                INVALID_PARAMETER_VALUE if answer.status_code < 500 else INTERNAL_ERROR,
            )
        return PredictionsResponse.from_json(answer.text)

    def _endpoint(self, name: str) -> str:
        """The endpoint URL of active deployment ``name`` (remembered for the next predict)."""
        with _mlflow_errors():
            deployment = self._find(name)
        if str(deployment.status) != "active" or not deployment.endpoint_url:
            raise MlflowException(
                f"Deployment {name!r} is {deployment.status}, not active"
                + (f": {_reason(deployment)}" if _reason(deployment) else "")
                + f"; see `mlflow deployments get -t jfml --name {name}`."
            )
        self._endpoints[name] = str(deployment.endpoint_url)
        return self._endpoints[name]

    def _post(self, url: str, body: bytes) -> Any:
        import httpx

        if self._http is None:
            settings = self.client.settings
            self._http = httpx.Client(
                timeout=max(float(settings.timeout), 60.0),
                verify=_ssl_verify(settings.verify),
                trust_env=False,
            )
        auth = (
            self.client.settings.auth if _same_origin(url, self.client.settings.api_url) else None
        )
        try:
            return self._http.post(
                url, content=body, headers={"Content-Type": "application/json"}, auth=auth
            )
        except httpx.TransportError as exc:
            raise MlflowException(
                f"Could not reach the deployment at {_without_query(url)}: {type(exc).__name__}"
            ) from None


class _Resolved:
    def __init__(self, model_id: str, model_version_id: str, description: str) -> None:
        self.model_id = model_id
        self.model_version_id = model_version_id
        self.description = description


def deployment_dict(deployment: Any) -> dict[str, Any]:
    """What ``get``/``list`` show: the contract's fields, plus ``status_reason`` if any."""
    data = deployment.model_dump(mode="json", exclude_none=True)
    data["status"] = str(deployment.status) if deployment.status else None
    return data


def _reason(deployment: Any) -> str | None:
    extra = getattr(deployment, "model_extra", None) or {}
    reason = extra.get("status_reason")
    return str(reason) if reason else None


def _raise_if_failed(deployment: Any, what: str) -> None:
    if str(deployment.status) == "failed":
        raise MlflowException(
            f"{what}: deployment {deployment.name!r} is failed: "
            f"{_reason(deployment) or 'no reason given'}. "
            f"It is kept for inspection; remove it with `mlflow deployments delete -t jfml "
            f"--name {deployment.name}`."
        )


def _error_message(answer: Any) -> str:
    try:
        body = answer.json()
    except ValueError:
        return answer.text.strip()[:2000]
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message"))[:2000]
    if isinstance(body, dict) and "message" in body:
        return str(body["message"])[:2000]
    return str(body)[:2000]


def _same_origin(url: str, api_url: str) -> bool:
    a, b = urlsplit(url), urlsplit(api_url)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


def _ssl_verify(verify: bool | str) -> Any:
    if isinstance(verify, str):
        import ssl

        return ssl.create_default_context(cafile=verify)
    return verify
