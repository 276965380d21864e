from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support.servers import api_client


@pytest.fixture
def api(jfml_server: Any) -> Iterator[httpx.Client]:
    """An authenticated client of the shared session server (base URL = .../ml/api)."""
    with api_client(jfml_server) as client:
        yield client


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Unique names, since the session server is shared by every test."""
    return lambda prefix="x": f"{prefix}-{uuid.uuid4().hex[:10]}"
