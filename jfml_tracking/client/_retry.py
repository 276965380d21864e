"""The retry loop: backoff with full jitter, ``Retry-After``, a total-time budget, and the
POST rule (retry only what surely never reached the server; reconcile the rest).
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import TypeVar

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

__all__ = ["Sender", "parse_retry_after"]

logger = logging.getLogger("jfml_tracking.client")
T = TypeVar("T")

RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Answers that say the request was not processed: safe to repeat even a POST.
NOT_PROCESSED_STATUSES = frozenset({429, 503})
# Transport errors raised before a single byte of the request left: safe to repeat a POST.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
_MIN_ATTEMPT_TIMEOUT = 0.05

# The deadline of the outermost call in progress on this thread: a reconciling lookup made
# inside a POST's retry loop shares the POST's budget instead of starting its own.
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


class Sender:
    """Sends one logical call through ``http`` with retries under ``policy``."""

    def __init__(
        self,
        http: httpx.Client,
        policy: RetryPolicy,
        *,
        timeout: float,
        credential_source: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.http = http
        self.policy = policy
        self.timeout = timeout
        self.credential_source = credential_source
        self._sleep = sleep

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
        start = time.monotonic()
        outer = _deadline.get()
        deadline = start + self.policy.max_total_seconds
        deadline = deadline if outer is None else min(deadline, outer)
        token = _deadline.set(deadline)
        try:
            return self._loop(method, url, params, content, reconcile, start, deadline)
        finally:
            _deadline.reset(token)

    def _loop(
        self,
        method: str,
        url: str,
        params: dict[str, str | int] | None,
        content: bytes | None,
        reconcile: Callable[[], T | None] | None,
        start: float,
        deadline: float,
    ) -> httpx.Response | T:
        attempt, ambiguous = 0, False  # ambiguous: an attempt may have been processed unseen
        while True:
            attempt += 1
            if ambiguous and reconcile is not None:
                found = self._reconcile(method, url, reconcile)
                if found is not None:
                    return found
            try:
                response = self._attempt(method, url, params, content, deadline)
            except httpx.TransportError as exc:
                error: JFrogMLError = transport_error(
                    exc, method, self._path(url), str(self.http.base_url)
                )
                cause: BaseException | None = exc
                sent = not isinstance(exc, _NEVER_SENT)
                why, wait = type(exc).__name__, self._backoff(attempt)
            else:
                if response.status_code < 400:
                    return response
                if ambiguous:
                    resolved = self._after_ambiguity(method, url, response, reconcile)
                    if resolved is not None:
                        return resolved
                error, wait = self._status_outcome(response, method, url, attempt)
                cause, why = None, str(response.status_code)
                sent = response.status_code not in NOT_PROCESSED_STATUSES
            if sent and method == "POST" and reconcile is None:
                raise self._maybe_processed(error) from cause  # only a lookup could tell
            ambiguous = ambiguous or (sent and method != "GET")
            if not self._may_retry(attempt, wait, deadline):
                if ambiguous and reconcile is not None and time.monotonic() < deadline:
                    found = self._reconcile(method, url, reconcile)
                    if found is not None:
                        return found
                final = self._maybe_processed(error) if ambiguous else error
                raise self._gave_up(final, attempt, start) from cause
            self._log_retry(method, url, attempt, wait, why)
            self._sleep(wait)

    def _after_ambiguity(
        self,
        method: str,
        url: str,
        response: httpx.Response,
        reconcile: Callable[[], T | None] | None,
    ) -> httpx.Response | T | None:
        """What an error answer means after an earlier attempt may have been processed: a 404
        to a repeated DELETE is that attempt's success; a 409 to a repeated create is the
        entity that attempt made. None when it means what it says."""
        if method == "DELETE" and response.status_code == 404:
            return response
        if response.status_code == 409 and reconcile is not None:
            return self._reconcile(method, url, reconcile)
        return None

    def _status_outcome(
        self, response: httpx.Response, method: str, url: str, attempt: int
    ) -> tuple[JFrogMLError, float]:
        """The error for an error answer and the wait before retrying it; raises the error
        right away when the status is not retryable."""
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        error = status_error(
            response,
            method,
            self._path(url),
            credential_source=self.credential_source,
            retry_after=retry_after,
        )
        if response.status_code not in RETRY_STATUSES:
            raise error
        return error, retry_after if retry_after is not None else self._backoff(attempt)

    @staticmethod
    def _maybe_processed(error: JFrogMLError) -> JFrogMLError:
        if isinstance(error, ConnectionFailed):
            error.maybe_processed = True
        return error

    def _attempt(
        self,
        method: str,
        url: str,
        params: dict[str, str | int] | None,
        content: bytes | None,
        deadline: float,
    ) -> httpx.Response:
        remaining = deadline - time.monotonic()
        timeout = max(_MIN_ATTEMPT_TIMEOUT, min(self.timeout, remaining))
        headers = {"Content-Type": "application/json"} if content is not None else None
        request = self.http.build_request(
            method, url, params=params, content=content, headers=headers, timeout=timeout
        )
        began = time.perf_counter()
        response = self.http.send(request)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %d in %.1f ms",
                method,
                request.url.path,
                response.status_code,
                (time.perf_counter() - began) * 1000,
            )
        return response

    def _reconcile(self, method: str, url: str, reconcile: Callable[[], T | None]) -> T | None:
        logger.info(
            "%s %s may have been processed without an answer; looking it up before sending again",
            method,
            self._path(url),
        )
        try:
            return reconcile()
        except (ConnectionFailed, ServerError, RateLimited, UnexpectedResponse) as exc:
            raise ConnectionFailed(
                f"{method} {self._path(url)}: the request may have reached the server but no "
                f"answer came, and looking the entity up failed too ({exc.message}). Nothing "
                "was sent twice; retry later.",
                method=method,
                path=self._path(url),
                maybe_processed=True,
            ) from exc

    def _backoff(self, attempt: int) -> float:
        return random.uniform(0.0, self.policy.backoff_ceiling(attempt))

    def _may_retry(self, attempt: int, wait: float, deadline: float) -> bool:
        if attempt >= self.policy.max_attempts:
            return False
        # Never start a wait (plus a minimal attempt) that would end past the budget.
        return time.monotonic() + wait + _MIN_ATTEMPT_TIMEOUT < deadline

    def _gave_up(self, error: JFrogMLError, attempt: int, start: float) -> JFrogMLError:
        if attempt > 1:
            suffix = f" (gave up after {attempt} attempts in {time.monotonic() - start:.1f} s)"
            error.args = (error.message + suffix,)
            error.message += suffix
        return error

    def _path(self, url: str) -> str:
        return self.http.base_url.path.rstrip("/") + url

    def _log_retry(self, method: str, url: str, attempt: int, wait: float, why: str) -> None:
        logger.info(
            "%s %s failed (%s), attempt %d of %d; retrying in %.2f s",
            method,
            self._path(url),
            why,
            attempt,
            self.policy.max_attempts,
            wait,
        )
