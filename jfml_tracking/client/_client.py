"""``JFrogMLClient``: one method per operation of the JFrog ML REST API contract."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

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
from jfml_tracking.client._exceptions import UnexpectedResponse
from jfml_tracking.client._retry import Sender
from jfml_tracking.config import Settings, resolve_settings

__all__ = ["DEFAULT_PAGE_SIZE", "RECONCILE_WINDOW", "JFrogMLClient"]

DEFAULT_PAGE_SIZE = 100
# How far around our own attempts an experiment's created_at may lie and still be "ours"
# (absorbs clock skew between this machine and the server).
RECONCILE_WINDOW = timedelta(minutes=2)
# Servers may store timestamps with less precision than we send.
_SAME_INSTANT = timedelta(milliseconds=1)

_R = TypeVar("_R", bound=BaseModel)
_E = TypeVar("_E", bound=BaseModel)
try:
    _VERSION = version("jfml-tracking")
except PackageNotFoundError:  # running from a source tree that is not installed
    _VERSION = "0"
_RESOLVE_KEYS = frozenset({"tracking_uri", "platform_url", "token", "user", "password", "env"})


def _ssl_context(verify: bool | str) -> ssl.SSLContext | bool:
    if verify is True or verify is False:
        return verify
    path = Path(verify)
    if path.is_dir():
        return ssl.create_default_context(capath=str(path))
    return ssl.create_default_context(cafile=str(path))


def _as_request(cls: type[_R], request: _R | None, fields: dict[str, Any]) -> _R:
    if request is not None and fields:
        raise TypeError(f"pass either a {cls.__name__} or keyword fields, not both")
    return request if request is not None else cls.model_validate(fields, strict=False)


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)


class JFrogMLClient:
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
        resolve_args = {k: v for k, v in overrides.items() if k in _RESOLVE_KEYS}
        field_args = {k: v for k, v in overrides.items() if k not in _RESOLVE_KEYS}
        if settings is None:
            settings = resolve_settings(**resolve_args)
        elif resolve_args:
            raise TypeError(f"{sorted(resolve_args)} cannot be combined with settings=")
        if field_args:
            settings = settings.replace(**field_args)
        self.settings = settings
        self._http = httpx.Client(
            base_url=settings.api_url,
            auth=settings.auth,
            timeout=settings.timeout,
            verify=_ssl_context(settings.verify),
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": f"jfml-tracking/{_VERSION}"},
        )
        self._sender = Sender(
            self._http,
            settings.retry,
            timeout=settings.timeout,
            credential_source=settings.credential_source,
        )

    @classmethod
    def from_tracking_uri(cls, uri: str, **kwargs: Any) -> JFrogMLClient:
        """A client for ``jfml://<server>``, ``jfml+https://host...`` or ``jfml:``."""
        return cls(tracking_uri=uri, **kwargs)

    # --- lifecycle ------------------------------------------------------------------------

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

    def __repr__(self) -> str:
        return (
            f"JFrogMLClient(api_url={self.settings.api_url!r}, "
            f"credentials={self.settings.credential_source!r})"
        )

    # --- plumbing -------------------------------------------------------------------------

    def _parse(self, cls: type[_E], response: httpx.Response) -> _E:
        try:
            return cls.model_validate_json(response.content)
        except ValidationError as exc:
            raise UnexpectedResponse(
                f"{response.request.method} {response.request.url.path}: the answer is not a "
                f"JFrog ML {cls.__name__} ({exc.error_count()} problems, content-type "
                f"{response.headers.get('content-type', '?')!r}). Is {self.settings.api_url} "
                "the JFrog ML API? Check JF_URL / JFML_API_URL, or run 'jfml doctor'.",
                method=response.request.method,
                path=response.request.url.path,
                status_code=response.status_code,
            ) from None

    def _get(self, cls: type[_E], path: str, params: dict[str, str | int] | None = None) -> _E:
        response = self._sender.send("GET", path, params=params)
        assert isinstance(response, httpx.Response)
        return self._parse(cls, response)

    def _delete(self, path: str) -> None:
        self._sender.send("DELETE", path)

    def _create(
        self, cls: type[_E], path: str, request: BaseModel, lookup: Callable[[datetime], _E | None]
    ) -> _E:
        sent_at = datetime.now(timezone.utc)
        content = request.model_dump_json(exclude_none=True).encode()
        result = self._sender.send("POST", path, content=content, reconcile=lambda: lookup(sent_at))
        if isinstance(result, httpx.Response):
            return self._parse(cls, result)
        return result

    @staticmethod
    def _page(limit: int | None, offset: int | None, **extra: str | None) -> dict[str, str | int]:
        params: dict[str, str | int] = {k: v for k, v in extra.items() if v is not None}
        if limit is not None:
            params["limit"] = limit
        if offset is not None:
            params["offset"] = offset
        return params

    @staticmethod
    def _walk(
        fetch: Callable[[int, int], tuple[list[_E], int | None]], page_size: int
    ) -> Iterator[_E]:
        """Walk limit/offset pages; robust to servers that cap ``limit`` or ignore paging."""
        offset, seen = 0, set[str]()
        while True:
            items, total = fetch(page_size, offset)
            fresh = [item for item in items if getattr(item, "id", None) not in seen]
            if not fresh:
                return
            for item in fresh:
                seen.add(getattr(item, "id", ""))
                yield item
            offset += len(items)
            if total is not None and offset >= total:
                return

    # --- models ---------------------------------------------------------------------------

    def list_models(self, *, limit: int | None = None, offset: int | None = None) -> ModelList:
        """One page of models (``listModels``); ``total_count`` if the server gives it."""
        return self._get(ModelList, "/v1/models", self._page(limit, offset))

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
        req = _as_request(ModelRequest, request, fields)
        return self._create(
            Model, "/v1/models", req, lambda _sent_at: self.find_model_by_name(req.name)
        )

    def get_model(self, model_id: str) -> Model:
        """One model (``getModel``); :class:`NotFound` if there is none."""
        return self._get(Model, f"/v1/models/{_seg(model_id)}")

    def update_model(
        self, model_id: str, request: ModelRequest | None = None, /, **fields: Any
    ) -> Model:
        """Replace a model's metadata (``updateModel``) and return the model as stored."""
        req = _as_request(ModelRequest, request, fields)
        path = f"/v1/models/{_seg(model_id)}"
        response = self._sender.send(
            "PUT", path, content=req.model_dump_json(exclude_none=True).encode()
        )
        assert isinstance(response, httpx.Response)
        if response.content.strip():
            return self._parse(Model, response)
        return self.get_model(model_id)  # the contract does not promise a body

    def delete_model(self, model_id: str) -> None:
        """Delete a model and all its versions (``deleteModel``)."""
        self._delete(f"/v1/models/{_seg(model_id)}")

    def find_model_by_name(self, name: str) -> Model | None:
        """The model called ``name``, or None (model names are unique)."""
        return next((m for m in self.iter_models() if m.name == name), None)

    # --- model versions -------------------------------------------------------------------

    def list_model_versions(
        self, model_id: str, *, limit: int | None = None, offset: int | None = None
    ) -> ModelVersionList:
        """One page of a model's versions (``listModelVersions``)."""
        return self._get(
            ModelVersionList, f"/v1/models/{_seg(model_id)}/versions", self._page(limit, offset)
        )

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
        """Create a version of a model (``createModelVersion``); never a duplicate on retry."""
        req = _as_request(ModelVersionRequest, request, fields)
        return self._create(
            ModelVersion,
            f"/v1/models/{_seg(model_id)}/versions",
            req,
            lambda _sent_at: self.find_model_version(model_id, req.version),
        )

    def get_model_version(self, model_id: str, version_id: str) -> ModelVersion:
        """One model version by its id (``getModelVersion``)."""
        return self._get(ModelVersion, f"/v1/models/{_seg(model_id)}/versions/{_seg(version_id)}")

    def delete_model_version(self, model_id: str, version_id: str) -> None:
        """Delete one model version (``deleteModelVersion``)."""
        self._delete(f"/v1/models/{_seg(model_id)}/versions/{_seg(version_id)}")

    def find_model_version(self, model_id: str, version: str) -> ModelVersion | None:
        """The version whose version string is ``version`` under ``model_id``, or None."""
        return next((v for v in self.iter_model_versions(model_id) if v.version == version), None)

    # --- experiments ----------------------------------------------------------------------

    def list_experiments(
        self, model_id: str | None = None, *, limit: int | None = None, offset: int | None = None
    ) -> ExperimentList:
        """One page of experiments, optionally of one model (``listExperiments``)."""
        return self._get(
            ExperimentList, "/v1/experiments", self._page(limit, offset, model_id=model_id)
        )

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

        After an ambiguous attempt the experiment is looked up by name, model and a created
        window around the call (plus ``created_at`` and ``parameters`` when sent).
        """
        req = _as_request(ExperimentRequest, request, fields)

        def lookup(sent_at: datetime) -> Experiment | None:
            if req.created_at is not None:  # the server keeps the time we sent: match it
                return self.find_experiment(
                    req.name, req.model_id, created_at=req.created_at, parameters=req.parameters
                )
            return self.find_experiment(
                req.name,
                req.model_id,
                created_after=sent_at - RECONCILE_WINDOW,
                created_before=datetime.now(timezone.utc) + RECONCILE_WINDOW,
                parameters=req.parameters,
            )

        return self._create(Experiment, "/v1/experiments", req, lookup)

    def get_experiment(self, experiment_id: str) -> Experiment:
        """One experiment (``getExperiment``)."""
        return self._get(Experiment, f"/v1/experiments/{_seg(experiment_id)}")

    def delete_experiment(self, experiment_id: str) -> None:
        """Delete an experiment (``deleteExperiment``)."""
        self._delete(f"/v1/experiments/{_seg(experiment_id)}")

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
        after, before, exact = _utc(created_after), _utc(created_before), _utc(created_at)
        matches = []
        for exp in self.iter_experiments(model_id):
            created = _utc(exp.created_at)
            if exp.name != name or (model_id is not None and exp.model_id != model_id):
                continue
            if created is not None and (
                (after and created < after) or (before and created > before)
            ):
                continue
            if exact is not None and (created is None or abs(created - exact) > _SAME_INSTANT):
                continue
            if parameters is not None and exp.parameters != dict(parameters):
                continue
            matches.append(exp)
        epoch = datetime.min.replace(tzinfo=timezone.utc)
        return max(matches, key=lambda e: _utc(e.created_at) or epoch, default=None)

    # --- deployments ----------------------------------------------------------------------

    def list_deployments(
        self, *, limit: int | None = None, offset: int | None = None
    ) -> DeploymentList:
        """One page of deployments (``listDeployments``)."""
        return self._get(DeploymentList, "/v1/deployments", self._page(limit, offset))

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
        req = _as_request(DeploymentRequest, request, fields)

        def lookup(_sent_at: datetime) -> Deployment | None:
            return next(
                (
                    d
                    for d in self.iter_deployments()
                    if d.name == req.name
                    and d.model_id == req.model_id
                    and d.model_version_id == req.model_version_id
                ),
                None,
            )

        return self._create(Deployment, "/v1/deployments", req, lookup)

    def get_deployment(self, deployment_id: str) -> Deployment:
        """One deployment (``getDeployment``)."""
        return self._get(Deployment, f"/v1/deployments/{_seg(deployment_id)}")

    def delete_deployment(self, deployment_id: str) -> None:
        """Remove a deployment (``deleteDeployment``)."""
        self._delete(f"/v1/deployments/{_seg(deployment_id)}")


def _seg(value: str) -> str:
    """One URL path segment: ids are opaque, so escape everything but unreserved characters."""
    from urllib.parse import quote

    if not value:
        raise ValueError("an id must not be empty")
    return quote(value, safe="-._~")
