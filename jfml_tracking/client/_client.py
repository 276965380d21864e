"""``JFrogMLClient``: one method per operation of the JFrog ML REST API contract."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from types import TracebackType
from typing import Any

import httpx
from pydantic import BaseModel

from jfml_tracking.api import (
    Deployment,
    DeploymentList,
    DeploymentRequest,
    Experiment,
    ExperimentList,
    ExperimentRequest,
    Model,
    ModelList,
    ModelRequest,
    ModelVersion,
    ModelVersionList,
    ModelVersionRequest,
)
from jfml_tracking.client._base import (
    DEFAULT_PAGE_SIZE,
    BaseClient,
    E,
    ExperimentQuery,
    Pager,
    Params,
    as_request,
    body,
    deployment_matches,
    page_params,
    seg,
)
from jfml_tracking.client._retry import Sender
from jfml_tracking.config import Settings

__all__ = ["JFrogMLClient"]


class JFrogMLClient(BaseClient):
    """A synchronous client of the JFrog ML REST API; thread-safe; reuses connections.

    Build it from resolved settings, from keyword overrides, or from a tracking URI::

        with JFrogMLClient.from_tracking_uri("jfml://acme") as client:
            model = client.create_model(name="churn", framework="sklearn")

    ``settings`` defaults to :func:`~jfml_tracking.config.resolve_settings` of ``overrides``
    that are resolution inputs (``tracking_uri``, ``platform_url``, ``token``, ``user``,
    ``password``, ``env``); any other override replaces a ``Settings`` field (``timeout=5``,
    ``retry=RetryPolicy(...)``, ``api_url=...``). ``transport`` is an ``httpx`` transport for
    tests.

    Every call retries transient failures under ``settings.retry``; a create (POST) is only
    repeated when it surely did not reach the server, and otherwise reconciled by looking the
    entity up by its natural key, so it never makes a duplicate. Errors are the typed
    :class:`JFrogMLError` family.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        **overrides: Any,
    ) -> None:
        self.settings = self._settings_from(settings, overrides)
        self._http = httpx.Client(transport=transport, **self._httpx_options())
        self._sender = Sender(
            self._http,
            self.settings.retry,
            timeout=self.settings.timeout,
            credential_source=self.settings.credential_source,
        )

    @classmethod
    def from_tracking_uri(cls, uri: str, **kwargs: Any) -> JFrogMLClient:
        """A client for ``jfml://<server>``, ``jfml+https://host...`` or ``jfml:``."""
        return cls(tracking_uri=uri, **kwargs)

    def close(self) -> None:
        """Close pooled connections; the client cannot be used afterwards."""
        self._http.close()

    def __enter__(self) -> JFrogMLClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- plumbing -------------------------------------------------------------------------

    def _get(self, cls: type[E], path: str, params: Params | None = None) -> E:
        response = self._sender.send("GET", path, params=params)
        assert isinstance(response, httpx.Response)
        return self._parse(cls, response)

    def _create(
        self, cls: type[E], path: str, request: BaseModel, lookup: Callable[[datetime], E | None]
    ) -> E:
        sent_at = datetime.now(timezone.utc)
        result = self._sender.send(
            "POST", path, content=body(request), reconcile=lambda: lookup(sent_at)
        )
        return self._parse(cls, result) if isinstance(result, httpx.Response) else result

    @staticmethod
    def _walk(fetch: Callable[[int, int], tuple[list[E], int | None]], size: int) -> Iterator[E]:
        pager: Pager[E] = Pager(size)
        while not pager.done:
            yield from pager.take(*fetch(pager.page_size, pager.offset))

    # --- models ---------------------------------------------------------------------------

    def list_models(self, *, limit: int | None = None, offset: int | None = None) -> ModelList:
        """One page of models (``listModels``); ``total_count`` if the server gives it."""
        return self._get(ModelList, "/v1/models", page_params(limit, offset))

    def iter_models(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[Model]:
        """Every model, walking pages of ``page_size``."""

        def fetch(limit: int, offset: int) -> tuple[list[Model], int | None]:
            page = self.list_models(limit=limit, offset=offset)
            return page.models, page.total_count

        return self._walk(fetch, page_size)

    def create_model(self, request: ModelRequest | None = None, /, **fields: Any) -> Model:
        """Register a model (``createModel``); never makes a duplicate on retry.

        Pass a :class:`ModelRequest` or its fields (``name=``, ``description=``,
        ``framework=``, ``task_type=``, ``tags=``). Raises :class:`Conflict` if a model of
        that name already existed.
        """
        req = as_request(ModelRequest, request, fields)
        return self._create(Model, "/v1/models", req, lambda _: self.find_model_by_name(req.name))

    def get_model(self, model_id: str) -> Model:
        """One model (``getModel``); :class:`NotFound` if there is none."""
        return self._get(Model, f"/v1/models/{seg(model_id)}")

    def update_model(
        self, model_id: str, request: ModelRequest | None = None, /, **fields: Any
    ) -> Model:
        """Replace a model's metadata (``updateModel``) and return the model as stored."""
        req = as_request(ModelRequest, request, fields)
        response = self._sender.send("PUT", f"/v1/models/{seg(model_id)}", content=body(req))
        assert isinstance(response, httpx.Response)
        if response.content.strip():
            return self._parse(Model, response)
        return self.get_model(model_id)  # the contract does not promise a body

    def delete_model(self, model_id: str) -> None:
        """Delete a model and all its versions (``deleteModel``)."""
        self._sender.send("DELETE", f"/v1/models/{seg(model_id)}")

    def find_model_by_name(self, name: str) -> Model | None:
        """The model called ``name``, or None (model names are unique)."""
        return next((m for m in self.iter_models() if m.name == name), None)

    # --- model versions -------------------------------------------------------------------

    def list_model_versions(
        self, model_id: str, *, limit: int | None = None, offset: int | None = None
    ) -> ModelVersionList:
        """One page of a model's versions (``listModelVersions``)."""
        path = f"/v1/models/{seg(model_id)}/versions"
        return self._get(ModelVersionList, path, page_params(limit, offset))

    def iter_model_versions(
        self, model_id: str, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[ModelVersion]:
        """Every version of a model."""

        def fetch(limit: int, offset: int) -> tuple[list[ModelVersion], int | None]:
            page = self.list_model_versions(model_id, limit=limit, offset=offset)
            return page.versions, page.total_count

        return self._walk(fetch, page_size)

    def create_model_version(
        self, model_id: str, request: ModelVersionRequest | None = None, /, **fields: Any
    ) -> ModelVersion:
        """Create a version of a model (``createModelVersion``); never a duplicate on retry
        (reconciled by the version string under the model)."""
        req = as_request(ModelVersionRequest, request, fields)
        path = f"/v1/models/{seg(model_id)}/versions"
        return self._create(
            ModelVersion, path, req, lambda _: self.find_model_version(model_id, req.version)
        )

    def get_model_version(self, model_id: str, version_id: str) -> ModelVersion:
        """One model version by its id (``getModelVersion``)."""
        return self._get(ModelVersion, f"/v1/models/{seg(model_id)}/versions/{seg(version_id)}")

    def delete_model_version(self, model_id: str, version_id: str) -> None:
        """Delete one model version (``deleteModelVersion``)."""
        self._sender.send("DELETE", f"/v1/models/{seg(model_id)}/versions/{seg(version_id)}")

    def find_model_version(self, model_id: str, version: str) -> ModelVersion | None:
        """The version whose version string is ``version`` under ``model_id``, or None."""
        return next((v for v in self.iter_model_versions(model_id) if v.version == version), None)

    # --- experiments ----------------------------------------------------------------------

    def list_experiments(
        self, model_id: str | None = None, *, limit: int | None = None, offset: int | None = None
    ) -> ExperimentList:
        """One page of experiments, optionally of one model (``listExperiments``)."""
        params = page_params(limit, offset, model_id=model_id)
        return self._get(ExperimentList, "/v1/experiments", params)

    def iter_experiments(
        self, model_id: str | None = None, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[Experiment]:
        """Every experiment, optionally of one model."""

        def fetch(limit: int, offset: int) -> tuple[list[Experiment], int | None]:
            page = self.list_experiments(model_id, limit=limit, offset=offset)
            return page.experiments, page.total_count

        return self._walk(fetch, page_size)

    def create_experiment(
        self, request: ExperimentRequest | None = None, /, **fields: Any
    ) -> Experiment:
        """Create an experiment (``createExperiment``); never a duplicate on retry.

        After an ambiguous attempt the experiment is looked up by name, model and its
        ``created_at`` if sent, else a window around the call (and ``parameters`` if sent).
        """
        req = as_request(ExperimentRequest, request, fields)

        def lookup(sent_at: datetime) -> Experiment | None:
            return self._find_experiment(ExperimentQuery.for_request(req, sent_at))

        return self._create(Experiment, "/v1/experiments", req, lookup)

    def get_experiment(self, experiment_id: str) -> Experiment:
        """One experiment (``getExperiment``)."""
        return self._get(Experiment, f"/v1/experiments/{seg(experiment_id)}")

    def delete_experiment(self, experiment_id: str) -> None:
        """Delete an experiment (``deleteExperiment``)."""
        self._sender.send("DELETE", f"/v1/experiments/{seg(experiment_id)}")

    def find_experiment(
        self,
        name: str,
        model_id: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        *,
        created_at: datetime | None = None,
        parameters: Mapping[str, str] | None = None,
    ) -> Experiment | None:
        """The newest experiment named ``name`` of ``model_id`` created inside the window
        (and with exactly ``created_at`` / ``parameters`` when given), or None."""
        query = ExperimentQuery(
            name, model_id, created_after, created_before, created_at, parameters
        )
        return self._find_experiment(query)

    def _find_experiment(self, query: ExperimentQuery) -> Experiment | None:
        matches = [e for e in self.iter_experiments(query.model_id) if query.matches(e)]
        return ExperimentQuery.newest(matches)

    # --- deployments ----------------------------------------------------------------------

    def list_deployments(
        self, *, limit: int | None = None, offset: int | None = None
    ) -> DeploymentList:
        """One page of deployments (``listDeployments``)."""
        return self._get(DeploymentList, "/v1/deployments", page_params(limit, offset))

    def iter_deployments(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[Deployment]:
        """Every deployment."""

        def fetch(limit: int, offset: int) -> tuple[list[Deployment], int | None]:
            page = self.list_deployments(limit=limit, offset=offset)
            return page.deployments, page.total_count

        return self._walk(fetch, page_size)

    def create_deployment(
        self, request: DeploymentRequest | None = None, /, **fields: Any
    ) -> Deployment:
        """Deploy a model version (``createDeployment``); never a duplicate on retry
        (reconciled by name, model and version)."""
        req = as_request(DeploymentRequest, request, fields)

        def lookup(_: datetime) -> Deployment | None:
            return next((d for d in self.iter_deployments() if deployment_matches(req, d)), None)

        return self._create(Deployment, "/v1/deployments", req, lookup)

    def get_deployment(self, deployment_id: str) -> Deployment:
        """One deployment (``getDeployment``)."""
        return self._get(Deployment, f"/v1/deployments/{seg(deployment_id)}")

    def delete_deployment(self, deployment_id: str) -> None:
        """Remove a deployment (``deleteDeployment``)."""
        self._sender.send("DELETE", f"/v1/deployments/{seg(deployment_id)}")
