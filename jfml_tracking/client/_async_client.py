"""``AsyncJFrogMLClient``: the asyncio twin of ``JFrogMLClient``, on ``httpx.AsyncClient``.

Same methods, same retries and reconciliation (the decisions are shared, see ``_retry.py``),
same errors; every call is awaited and the ``iter_*`` methods are async iterators.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
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
from jfml_tracking.client._retry import AsyncSender
from jfml_tracking.config import Settings

__all__ = ["AsyncJFrogMLClient"]

_Fetch = Callable[[int, int], Awaitable[tuple[list[E], int | None]]]


class AsyncJFrogMLClient(BaseClient):
    """An asyncio client of the JFrog ML REST API; see :class:`JFrogMLClient`::

    async with AsyncJFrogMLClient.from_tracking_uri("jfml://acme") as client:
        model = await client.create_model(name="churn")
        async for version in client.iter_model_versions(model.id):
            ...
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        **overrides: Any,
    ) -> None:
        self.settings = self._settings_from(settings, overrides)
        self._http = httpx.AsyncClient(transport=transport, **self._httpx_options())
        self._sender = AsyncSender(
            self._http,
            self.settings.retry,
            timeout=self.settings.timeout,
            credential_source=self.settings.credential_source,
        )

    @classmethod
    def from_tracking_uri(cls, uri: str, **kwargs: Any) -> AsyncJFrogMLClient:
        """A client for ``jfml://<server>``, ``jfml+https://host...`` or ``jfml:``."""
        return cls(tracking_uri=uri, **kwargs)

    async def aclose(self) -> None:
        """Close pooled connections; the client cannot be used afterwards."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncJFrogMLClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- plumbing -------------------------------------------------------------------------

    async def _get(self, cls: type[E], path: str, params: Params | None = None) -> E:
        response = await self._sender.send("GET", path, params=params)
        assert isinstance(response, httpx.Response)
        return self._parse(cls, response)

    async def _create(
        self,
        cls: type[E],
        path: str,
        request: BaseModel,
        lookup: Callable[[datetime], Awaitable[E | None]],
    ) -> E:
        sent_at = datetime.now(timezone.utc)
        result = await self._sender.send(
            "POST", path, content=body(request), reconcile=lambda: lookup(sent_at)
        )
        return self._parse(cls, result) if isinstance(result, httpx.Response) else result

    @staticmethod
    async def _walk(fetch: _Fetch[E], size: int) -> AsyncIterator[E]:
        pager: Pager[E] = Pager(size)
        while not pager.done:
            for item in pager.take(*await fetch(pager.page_size, pager.offset)):
                yield item

    # --- models ---------------------------------------------------------------------------

    async def list_models(
        self, *, limit: int | None = None, offset: int | None = None
    ) -> ModelList:
        """One page of models (``listModels``)."""
        return await self._get(ModelList, "/v1/models", page_params(limit, offset))

    def iter_models(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> AsyncIterator[Model]:
        """Every model, walking pages of ``page_size``."""

        async def fetch(limit: int, offset: int) -> tuple[list[Model], int | None]:
            page = await self.list_models(limit=limit, offset=offset)
            return page.models, page.total_count

        return self._walk(fetch, page_size)

    async def create_model(self, request: ModelRequest | None = None, /, **fields: Any) -> Model:
        """Register a model (``createModel``); never makes a duplicate on retry."""
        req = as_request(ModelRequest, request, fields)

        async def lookup(_: datetime) -> Model | None:
            return await self.find_model_by_name(req.name)

        return await self._create(Model, "/v1/models", req, lookup)

    async def get_model(self, model_id: str) -> Model:
        """One model (``getModel``)."""
        return await self._get(Model, f"/v1/models/{seg(model_id)}")

    async def update_model(
        self, model_id: str, request: ModelRequest | None = None, /, **fields: Any
    ) -> Model:
        """Replace a model's metadata (``updateModel``) and return the model as stored."""
        req = as_request(ModelRequest, request, fields)
        path = f"/v1/models/{seg(model_id)}"
        response = await self._sender.send("PUT", path, content=body(req))
        assert isinstance(response, httpx.Response)
        if response.content.strip():
            return self._parse(Model, response)
        return await self.get_model(model_id)

    async def delete_model(self, model_id: str) -> None:
        """Delete a model and all its versions (``deleteModel``)."""
        await self._sender.send("DELETE", f"/v1/models/{seg(model_id)}")

    async def find_model_by_name(self, name: str) -> Model | None:
        """The model called ``name``, or None."""
        async for model in self.iter_models():
            if model.name == name:
                return model
        return None

    # --- model versions -------------------------------------------------------------------

    async def list_model_versions(
        self, model_id: str, *, limit: int | None = None, offset: int | None = None
    ) -> ModelVersionList:
        """One page of a model's versions (``listModelVersions``)."""
        path = f"/v1/models/{seg(model_id)}/versions"
        return await self._get(ModelVersionList, path, page_params(limit, offset))

    def iter_model_versions(
        self, model_id: str, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[ModelVersion]:
        """Every version of a model."""

        async def fetch(limit: int, offset: int) -> tuple[list[ModelVersion], int | None]:
            page = await self.list_model_versions(model_id, limit=limit, offset=offset)
            return page.versions, page.total_count

        return self._walk(fetch, page_size)

    async def create_model_version(
        self, model_id: str, request: ModelVersionRequest | None = None, /, **fields: Any
    ) -> ModelVersion:
        """Create a version of a model (``createModelVersion``); never a duplicate on retry."""
        req = as_request(ModelVersionRequest, request, fields)

        async def lookup(_: datetime) -> ModelVersion | None:
            return await self.find_model_version(model_id, req.version)

        return await self._create(ModelVersion, f"/v1/models/{seg(model_id)}/versions", req, lookup)

    async def get_model_version(self, model_id: str, version_id: str) -> ModelVersion:
        """One model version by its id (``getModelVersion``)."""
        path = f"/v1/models/{seg(model_id)}/versions/{seg(version_id)}"
        return await self._get(ModelVersion, path)

    async def delete_model_version(self, model_id: str, version_id: str) -> None:
        """Delete one model version (``deleteModelVersion``)."""
        await self._sender.send("DELETE", f"/v1/models/{seg(model_id)}/versions/{seg(version_id)}")

    async def find_model_version(self, model_id: str, version: str) -> ModelVersion | None:
        """The version whose version string is ``version`` under ``model_id``, or None."""
        async for item in self.iter_model_versions(model_id):
            if item.version == version:
                return item
        return None

    # --- experiments ----------------------------------------------------------------------

    async def list_experiments(
        self, model_id: str | None = None, *, limit: int | None = None, offset: int | None = None
    ) -> ExperimentList:
        """One page of experiments, optionally of one model (``listExperiments``)."""
        params = page_params(limit, offset, model_id=model_id)
        return await self._get(ExperimentList, "/v1/experiments", params)

    def iter_experiments(
        self, model_id: str | None = None, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[Experiment]:
        """Every experiment, optionally of one model."""

        async def fetch(limit: int, offset: int) -> tuple[list[Experiment], int | None]:
            page = await self.list_experiments(model_id, limit=limit, offset=offset)
            return page.experiments, page.total_count

        return self._walk(fetch, page_size)

    async def create_experiment(
        self, request: ExperimentRequest | None = None, /, **fields: Any
    ) -> Experiment:
        """Create an experiment (``createExperiment``); never a duplicate on retry."""
        req = as_request(ExperimentRequest, request, fields)

        async def lookup(sent_at: datetime) -> Experiment | None:
            return await self._find_experiment(ExperimentQuery.for_request(req, sent_at))

        return await self._create(Experiment, "/v1/experiments", req, lookup)

    async def get_experiment(self, experiment_id: str) -> Experiment:
        """One experiment (``getExperiment``)."""
        return await self._get(Experiment, f"/v1/experiments/{seg(experiment_id)}")

    async def delete_experiment(self, experiment_id: str) -> None:
        """Delete an experiment (``deleteExperiment``)."""
        await self._sender.send("DELETE", f"/v1/experiments/{seg(experiment_id)}")

    async def find_experiment(
        self,
        name: str,
        model_id: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        *,
        created_at: datetime | None = None,
        parameters: Mapping[str, str] | None = None,
    ) -> Experiment | None:
        """The newest matching experiment, or None; see :meth:`JFrogMLClient.find_experiment`."""
        query = ExperimentQuery(
            name, model_id, created_after, created_before, created_at, parameters
        )
        return await self._find_experiment(query)

    async def _find_experiment(self, query: ExperimentQuery) -> Experiment | None:
        matches = [e async for e in self.iter_experiments(query.model_id) if query.matches(e)]
        return ExperimentQuery.newest(matches)

    # --- deployments ----------------------------------------------------------------------

    async def list_deployments(
        self, *, limit: int | None = None, offset: int | None = None
    ) -> DeploymentList:
        """One page of deployments (``listDeployments``)."""
        return await self._get(DeploymentList, "/v1/deployments", page_params(limit, offset))

    def iter_deployments(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> AsyncIterator[Deployment]:
        """Every deployment."""

        async def fetch(limit: int, offset: int) -> tuple[list[Deployment], int | None]:
            page = await self.list_deployments(limit=limit, offset=offset)
            return page.deployments, page.total_count

        return self._walk(fetch, page_size)

    async def create_deployment(
        self, request: DeploymentRequest | None = None, /, **fields: Any
    ) -> Deployment:
        """Deploy a model version (``createDeployment``); never a duplicate on retry."""
        req = as_request(DeploymentRequest, request, fields)

        async def lookup(_: datetime) -> Deployment | None:
            async for dep in self.iter_deployments():
                if deployment_matches(req, dep):
                    return dep
            return None

        return await self._create(Deployment, "/v1/deployments", req, lookup)

    async def get_deployment(self, deployment_id: str) -> Deployment:
        """One deployment (``getDeployment``)."""
        return await self._get(Deployment, f"/v1/deployments/{seg(deployment_id)}")

    async def delete_deployment(self, deployment_id: str) -> None:
        """Remove a deployment (``deleteDeployment``)."""
        await self._sender.send("DELETE", f"/v1/deployments/{seg(deployment_id)}")
