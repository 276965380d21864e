"""The retry loop: backoff with full jitter, ``Retry-After``, a total-time budget, and the
POST rule (resend only what surely never reached the server; reconcile the rest).

The decisions live in one I/O-free generator, :meth:`_Policy.run`, that yields what to do next
(send an attempt, sleep, reconcile) and receives the outcome; :class:`Sender` and
:class:`AsyncSender` only carry those steps out, so the sync and async clients behave alike.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable, Generator
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

import httpx

from jfml_tracking.client._errors_map import status_error, transport_error
from jfml_tracking.client._exceptions import (
    ConnectionFailed,
    JFrogMLError,
    RateLimited,
    ServerError,
    UnexpectedResponse,
)
from jfml_tracking.config import RetryPolicy

__all__ = ["AsyncSender", "Sender", "parse_retry_after"]

logger = logging.getLogger("jfml_tracking.client")
T = TypeVar("T")
H = TypeVar("H", httpx.Client, httpx.AsyncClient)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Answers that say the request was not processed: safe to repeat even a POST.
NOT_PROCESSED_STATUSES = frozenset({429, 503})
# Transport errors raised before a single byte of the request left: safe to repeat a POST.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
_MIN_ATTEMPT_TIMEOUT = 0.05
_LOOKUP_FAILURES = (ConnectionFailed, ServerError, RateLimited, UnexpectedResponse)

# The deadline of the outermost call in progress in this context (thread or task): a
# reconciling lookup made inside a POST's retry loop shares the POST's budget.
_deadline: ContextVar[float | None] = ContextVar("jfml_client_deadline", default=None)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


@dataclass(frozen=True)
class _Attempt:
    timeout: float


@dataclass(frozen=True)
class _Sleep:
    seconds: float


@dataclass(frozen=True)
class _Reconcile:
    pass


_Step = _Attempt | _Sleep | _Reconcile
# What the driver sends back: the attempt's response or transport error, or what a
# reconciling lookup found (None if nothing).
_Loop = Generator[_Step, object, object]


class _Policy(Generic[H]):
    """The retry decisions for one client, free of I/O."""

    def __init__(
        self, http: H, policy: RetryPolicy, *, timeout: float, credential_source: str
    ) -> None:
        self.http: H = http
        self.policy = policy
        self.timeout = timeout
        self.credential_source = credential_source

    def run(self, method: str, url: str, *, can_reconcile: bool, deadline: float) -> _Loop:
        """Yield steps until the call is decided; return the 2xx response or the entity a
        reconciliation found; raise the typed error when giving up."""
        start, attempt, ambiguous = time.monotonic(), 0, False  # ambiguous: maybe processed
        while True:
            attempt += 1
            if ambiguous and can_reconcile:
                found = yield _Reconcile()
                if found is not None:
                    return found
            remaining = deadline - time.monotonic()
            outcome = yield _Attempt(max(_MIN_ATTEMPT_TIMEOUT, min(self.timeout, remaining)))
            if isinstance(outcome, httpx.TransportError):
                error: JFrogMLError = transport_error(
                    outcome, method, self.path(url), str(self.http.base_url)
                )
                cause: BaseException | None = outcome
                sent = not isinstance(outcome, _NEVER_SENT)
                why, wait = type(outcome).__name__, self._backoff(attempt)
            else:
                response = cast(httpx.Response, outcome)
                if response.status_code < 400:
                    return response
                if ambiguous and method == "DELETE" and response.status_code == 404:
                    return response  # the earlier attempt deleted it
                if ambiguous and can_reconcile and response.status_code == 409:
                    found = yield _Reconcile()  # the earlier attempt created it
                    if found is not None:
                        return found
                error, wait = self._status_outcome(response, method, url, attempt)
                cause, why = None, str(response.status_code)
                sent = response.status_code not in NOT_PROCESSED_STATUSES
            if sent and method == "POST" and not can_reconcile:
                raise _maybe_processed(error) from cause  # only a lookup could tell
            ambiguous = ambiguous or (sent and method != "GET")
            if not self._may_retry(attempt, wait, deadline):
                if ambiguous and can_reconcile and time.monotonic() < deadline:
                    found = yield _Reconcile()
                    if found is not None:
                        return found
                final = _maybe_processed(error) if ambiguous else error
                raise self._gave_up(final, attempt, start) from cause
            self._log_retry(method, url, attempt, wait, why)
            yield _Sleep(wait)

    def _status_outcome(
        self, response: httpx.Response, method: str, url: str, attempt: int
    ) -> tuple[JFrogMLError, float]:
        """The error for an error answer and the wait before retrying it; raises the error
        right away when the status is not retryable."""
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        error = status_error(
            response,
            method,
            self.path(url),
            credential_source=self.credential_source,
            retry_after=retry_after,
        )
        if response.status_code not in RETRY_STATUSES:
            raise error
        return error, retry_after if retry_after is not None else self._backoff(attempt)

    def _backoff(self, attempt: int) -> float:
        return random.uniform(0.0, self.policy.backoff_ceiling(attempt))

    def _may_retry(self, attempt: int, wait: float, deadline: float) -> bool:
        if attempt >= self.policy.max_attempts:
            return False
        # Never start a wait (plus a minimal attempt) that would end past the budget.
        return time.monotonic() + wait + _MIN_ATTEMPT_TIMEOUT < deadline

    @staticmethod
    def _gave_up(error: JFrogMLError, attempt: int, start: float) -> JFrogMLError:
        if attempt > 1:
            suffix = f" (gave up after {attempt} attempts in {time.monotonic() - start:.1f} s)"
            error.args = (error.message + suffix,)
            error.message += suffix
        return error

    def path(self, url: str) -> str:
        return self.http.base_url.path.rstrip("/") + url

    def _log_retry(self, method: str, url: str, attempt: int, wait: float, why: str) -> None:
        logger.info(
            "%s %s failed (%s), attempt %d of %d; retrying in %.2f s",
            method,
            self.path(url),
            why,
            attempt,
            self.policy.max_attempts,
            wait,
        )

    def build(
        self,
        method: str,
        url: str,
        params: dict[str, str | int] | None,
        content: bytes | None,
        timeout: float,
    ) -> httpx.Request:
        headers = {"Content-Type": "application/json"} if content is not None else None
        return self.http.build_request(
            method, url, params=params, content=content, headers=headers, timeout=timeout
        )

    def reconcile_failed(self, method: str, url: str, exc: JFrogMLError) -> ConnectionFailed:
        return ConnectionFailed(
            f"{method} {self.path(url)}: the request may have reached the server but no "
            f"answer came, and looking the entity up failed too ({exc.message}). Nothing "
            "was sent twice; retry later.",
            method=method,
            path=self.path(url),
            maybe_processed=True,
        )

    def begin(self) -> tuple[float, Token[float | None]]:
        """The call's deadline (nested calls share the outer one) and a reset token."""
        outer = _deadline.get()
        deadline = time.monotonic() + self.policy.max_total_seconds
        deadline = deadline if outer is None else min(deadline, outer)
        return deadline, _deadline.set(deadline)


def _maybe_processed(error: JFrogMLError) -> JFrogMLError:
    if isinstance(error, ConnectionFailed):
        error.maybe_processed = True
    return error


def _log_response(request: httpx.Request, response: httpx.Response, began: float) -> None:
    if logger.isEnabledFor(logging.DEBUG):
        elapsed = (time.perf_counter() - began) * 1000
        logger.debug(
            "%s %s -> %d in %.1f ms",
            request.method,
            request.url.path,
            response.status_code,
            elapsed,
        )


def _log_reconcile(method: str, path: str) -> None:
    logger.info(
        "%s %s may have been processed without an answer; looking it up before sending again",
        method,
        path,
    )


class Sender(_Policy[httpx.Client]):
    """Carries out the retry loop with a blocking ``httpx.Client``."""

    def send(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str | int] | None = None,
        content: bytes | None = None,
        reconcile: Callable[[], T | None] | None = None,
    ) -> httpx.Response | T:
        """Send with retries; return the 2xx response, or what ``reconcile`` found.

        ``reconcile`` (POST only) looks the entity up by its natural key after an attempt that
        may have been processed without us seeing the answer; whatever it finds is returned
        instead of sending again, and a 409 after such an attempt is resolved the same way.
        """
        deadline, token = self.begin()
        loop = self.run(method, url, can_reconcile=reconcile is not None, deadline=deadline)
        try:
            step = next(loop)
            while True:
                outcome: object = None
                if isinstance(step, _Attempt):
                    request = self.build(method, url, params, content, step.timeout)
                    began = time.perf_counter()
                    try:
                        outcome = self.http.send(request)
                    except httpx.TransportError as exc:
                        outcome = exc
                    else:
                        _log_response(request, outcome, began)
                elif isinstance(step, _Sleep):
                    time.sleep(step.seconds)
                elif reconcile is not None:
                    _log_reconcile(method, self.path(url))
                    try:
                        outcome = reconcile()
                    except _LOOKUP_FAILURES as exc:
                        raise self.reconcile_failed(method, url, exc) from exc
                step = loop.send(outcome)
        except StopIteration as stop:
            return cast("httpx.Response | T", stop.value)
        finally:
            loop.close()
            _deadline.reset(token)


class AsyncSender(_Policy[httpx.AsyncClient]):
    """Carries out the retry loop with an ``httpx.AsyncClient``."""

    async def send(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str | int] | None = None,
        content: bytes | None = None,
        reconcile: Callable[[], Awaitable[T | None]] | None = None,
    ) -> httpx.Response | T:
        """The async twin of :meth:`Sender.send`."""
        deadline, token = self.begin()
        loop = self.run(method, url, can_reconcile=reconcile is not None, deadline=deadline)
        try:
            step = next(loop)
            while True:
                outcome: object = None
                if isinstance(step, _Attempt):
                    request = self.build(method, url, params, content, step.timeout)
                    began = time.perf_counter()
                    try:
                        outcome = await self.http.send(request)
                    except httpx.TransportError as exc:
                        outcome = exc
                    else:
                        _log_response(request, outcome, began)
                elif isinstance(step, _Sleep):
                    await asyncio.sleep(step.seconds)
                elif reconcile is not None:
                    _log_reconcile(method, self.path(url))
                    try:
                        outcome = await reconcile()
                    except _LOOKUP_FAILURES as exc:
                        raise self.reconcile_failed(method, url, exc) from exc
                step = loop.send(outcome)
        except StopIteration as stop:
            return cast("httpx.Response | T", stop.value)
        finally:
            loop.close()
            _deadline.reset(token)
