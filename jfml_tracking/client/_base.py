"""What the sync and async clients share, free of I/O: settings, request building, parsing,
paging state, and the natural-key matching used to reconcile ambiguous creates."""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from jfml_tracking.api import Deployment, DeploymentRequest, Experiment, ExperimentRequest
from jfml_tracking.client._exceptions import UnexpectedResponse
from jfml_tracking.config import Settings, resolve_settings

__all__ = ["DEFAULT_PAGE_SIZE", "RECONCILE_WINDOW"]

DEFAULT_PAGE_SIZE = 100
# How far around our own attempts an experiment's created_at may lie and still be "ours"
# (absorbs clock skew between this machine and the server).
RECONCILE_WINDOW = timedelta(minutes=2)
# Servers may store timestamps with less precision than we send.
_SAME_INSTANT = timedelta(milliseconds=1)
_EPOCH = datetime.min.replace(tzinfo=timezone.utc)
_RESOLVE_KEYS = frozenset({"tracking_uri", "platform_url", "token", "user", "password", "env"})

try:
    _VERSION = version("jfml-tracking")
except PackageNotFoundError:  # running from a source tree that is not installed
    _VERSION = "0"

R = TypeVar("R", bound=BaseModel)
E = TypeVar("E", bound=BaseModel)
Params = dict[str, str | int]


def as_request(cls: type[R], request: R | None, fields: dict[str, Any]) -> R:
    """``request``, or a ``cls`` validated from keyword ``fields`` (not both)."""
    if request is not None and fields:
        raise TypeError(f"pass either a {cls.__name__} or keyword fields, not both")
    return request if request is not None else cls.model_validate(fields, strict=False)


def body(request: BaseModel) -> bytes:
    return request.model_dump_json(exclude_none=True).encode()


def seg(value: str) -> str:
    """One URL path segment: ids are opaque, so escape everything but unreserved characters."""
    if not value:
        raise ValueError("an id must not be empty")
    return quote(value, safe="-._~")


def page_params(limit: int | None, offset: int | None, **extra: str | None) -> Params:
    params: Params = {k: v for k, v in extra.items() if v is not None}
    if limit is not None:
        params["limit"] = limit
    if offset is not None:
        params["offset"] = offset
    return params


def utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)


class Pager(Generic[E]):
    """The state of a limit/offset walk; robust to servers that cap ``limit`` (it follows
    ``total_count``) or ignore paging (it stops when a page brings nothing new)."""

    def __init__(self, page_size: int) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size}")
        self.page_size = page_size
        self.offset = 0
        self.done = False
        self._seen: set[str] = set()

    def take(self, items: Sequence[E], total: int | None) -> list[E]:
        """The items of a page not seen before; sets ``done`` when the walk is over."""
        fresh = [item for item in items if getattr(item, "id", None) not in self._seen]
        self._seen.update(str(getattr(item, "id", "")) for item in fresh)
        self.offset += len(items)
        if not fresh or (total is not None and self.offset >= total):
            self.done = True
        return fresh


@dataclass(frozen=True)
class ExperimentQuery:
    """The natural key of an experiment: name, model and a creation window or instant."""

    name: str
    model_id: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    created_at: datetime | None = None
    parameters: Mapping[str, str] | None = None

    @classmethod
    def for_request(cls, req: ExperimentRequest, sent_at: datetime) -> ExperimentQuery:
        """What identifies the experiment ``req`` made, if an attempt sent at ``sent_at``
        made it: its own ``created_at`` when sent (the server keeps it), else a window."""
        if req.created_at is not None:
            return cls(req.name, req.model_id, created_at=req.created_at, parameters=req.parameters)
        return cls(
            req.name,
            req.model_id,
            created_after=sent_at - RECONCILE_WINDOW,
            created_before=datetime.now(timezone.utc) + RECONCILE_WINDOW,
            parameters=req.parameters,
        )

    def matches(self, exp: Experiment) -> bool:
        if exp.name != self.name or (self.model_id is not None and exp.model_id != self.model_id):
            return False
        created = utc(exp.created_at)
        after, before, exact = (
            utc(self.created_after),
            utc(self.created_before),
            utc(self.created_at),
        )
        if created is not None and ((after and created < after) or (before and created > before)):
            return False
        if exact is not None and (created is None or abs(created - exact) > _SAME_INSTANT):
            return False
        return self.parameters is None or exp.parameters == dict(self.parameters)

    @staticmethod
    def newest(matches: Sequence[Experiment]) -> Experiment | None:
        return max(matches, key=lambda e: utc(e.created_at) or _EPOCH, default=None)


def deployment_matches(req: DeploymentRequest, dep: Deployment) -> bool:
    """The natural key of a deployment: name, model and model version."""
    return (dep.name, dep.model_id, dep.model_version_id) == (
        req.name,
        req.model_id,
        req.model_version_id,
    )


def _ssl_context(verify: bool | str) -> ssl.SSLContext | bool:
    if verify is True or verify is False:
        return verify
    path = Path(verify)
    if path.is_dir():
        return ssl.create_default_context(capath=str(path))
    return ssl.create_default_context(cafile=str(path))


class BaseClient:
    """Settings resolution, httpx options and response parsing for both clients."""

    settings: Settings

    @staticmethod
    def _settings_from(settings: Settings | None, overrides: dict[str, Any]) -> Settings:
        resolve_args = {k: v for k, v in overrides.items() if k in _RESOLVE_KEYS}
        field_args = {k: v for k, v in overrides.items() if k not in _RESOLVE_KEYS}
        if settings is None:
            settings = resolve_settings(**resolve_args)
        elif resolve_args:
            raise TypeError(f"{sorted(resolve_args)} cannot be combined with settings=")
        return settings.replace(**field_args) if field_args else settings

    def _httpx_options(self) -> dict[str, Any]:
        s = self.settings
        return {
            "base_url": s.api_url,
            "auth": s.auth,
            "timeout": s.timeout,
            "verify": _ssl_context(s.verify),
            "headers": {"Accept": "application/json", "User-Agent": f"jfml-tracking/{_VERSION}"},
        }

    def _parse(self, cls: type[E], response: httpx.Response) -> E:
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

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(api_url={self.settings.api_url!r}, "
            f"credentials={self.settings.credential_source!r})"
        )
