"""Fixtures of the client tests: clients for the shared reference server, unique names."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from jfml_tracking.client import JFrogMLClient, RetryPolicy

# Retries fast enough for tests; the bound tests set their own policy.
FAST_RETRY = RetryPolicy(max_attempts=5, max_total_seconds=10.0, backoff_base=0.02, backoff_max=0.2)


@pytest.fixture
def unique() -> Callable[[str], str]:
    """``unique("model")`` -> ``"model-3f9c..."``: names that never collide on a shared server."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_client() -> Iterator[Callable[..., JFrogMLClient]]:
    """``make_client(url, token, **overrides)``: a client isolated from the user's settings."""
    made: list[JFrogMLClient] = []

    def make(url: str, token: str | None, **overrides: Any) -> JFrogMLClient:
        overrides.setdefault("retry", FAST_RETRY)
        overrides.setdefault("env", {})
        client = JFrogMLClient(platform_url=url, token=token, **overrides)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(jfml_server: Any, make_client: Callable[..., JFrogMLClient]) -> JFrogMLClient:
    """A client of the session's reference server."""
    return make_client(jfml_server.url, jfml_server.token)
