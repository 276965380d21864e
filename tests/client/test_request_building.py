"""Unit tests of request building and answer parsing, on ``httpx.MockTransport``.

User-visible behaviour is tested against the real server elsewhere; these pin down the exact
requests (paths, escaping, query, body, headers) and edge cases a real server won't produce.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable

import httpx
import pytest

from jfml_tracking.client import (
    NO_RETRY,
    JFrogMLClient,
    JFrogMLStatusError,
    RetryPolicy,
    ServerError,
    UnexpectedResponse,
    ValidationFailed,
    parse_retry_after,
)

Handler = Callable[[httpx.Request], httpx.Response]
MODEL = {"id": "mdl_1", "name": "churn"}


def mock_client(handler: Handler, **overrides: object) -> tuple[JFrogMLClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return handler(request)

    overrides.setdefault("retry", NO_RETRY)
    client = JFrogMLClient(
        tracking_uri="jfml://acme",
        token="tok-0123456789abcdef",
        env={"HOME": "/nonexistent"},
        transport=httpx.MockTransport(record),
        **overrides,
    )
    return client, seen


def test_create_model_request() -> None:
    client, seen = mock_client(lambda r: httpx.Response(201, json=MODEL))
    model = client.create_model(name="churn", framework="sklearn")
    assert model.id == "mdl_1"
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == "https://acme.jfrog.io/ml/api/v1/models"
    assert json.loads(request.content) == {"name": "churn", "framework": "sklearn"}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "application/json"
    assert request.headers["user-agent"].startswith("jfml-tracking/")
    assert request.headers["authorization"] == "Bearer tok-0123456789abcdef"


def test_ids_are_escaped_as_one_path_segment() -> None:
    client, seen = mock_client(lambda r: httpx.Response(200, json={"id": "x"}))
    client.get_model_version("a/b c", "v?1#")
    assert seen[0].url.raw_path == b"/ml/api/v1/models/a%2Fb%20c/versions/v%3F1%23"
    with pytest.raises(ValueError, match="empty"):
        client.get_model("")


def test_list_query_parameters() -> None:
    client, seen = mock_client(lambda r: httpx.Response(200, json={"experiments": []}))
    client.list_experiments("mdl_1", limit=10, offset=20)
    client.list_experiments()
    assert dict(seen[0].url.params) == {"model_id": "mdl_1", "limit": "10", "offset": "20"}
    assert dict(seen[1].url.params) == {}


def test_request_object_or_fields_not_both() -> None:
    from jfml_tracking.api import ModelRequest

    client, _ = mock_client(lambda r: httpx.Response(201, json=MODEL))
    with pytest.raises(TypeError, match="not both"):
        client.create_model(ModelRequest(name="a"), name="b")


def test_invalid_fields_fail_before_any_request() -> None:
    from pydantic import ValidationError

    client, seen = mock_client(lambda r: httpx.Response(201, json=MODEL))
    with pytest.raises(ValidationError):
        client.create_model(name="")
    assert seen == []


def test_update_without_a_body_reads_the_model_back() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200) if request.method == "PUT" else httpx.Response(200, json=MODEL)

    client, seen = mock_client(handler)
    assert client.update_model("mdl_1", name="churn").id == "mdl_1"
    assert [r.method for r in seen] == ["PUT", "GET"]


def test_iterator_stops_when_the_server_ignores_paging() -> None:
    everything = {"versions": [{"id": f"v{i}"} for i in range(3)]}  # no total_count, no paging
    client, seen = mock_client(lambda r: httpx.Response(200, json=everything))
    assert [v.id for v in client.iter_model_versions("m", page_size=2)] == ["v0", "v1", "v2"]
    assert len(seen) == 2


def test_iterator_follows_total_count_when_the_server_caps_the_limit() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        models = [{"id": f"m{i}"} for i in range(offset, min(offset + 2, 5))]  # capped at 2
        return httpx.Response(200, json={"models": models, "total_count": 5})

    client, seen = mock_client(handler)
    assert [m.id for m in client.iter_models(page_size=100)] == [f"m{i}" for i in range(5)]
    assert len(seen) == 3


def test_error_body_is_parsed() -> None:
    body = {
        "error": {
            "code": "validation_failed",
            "message": "name is too long",
            "details": {"field": "name"},
            "request_id": "req_9",
        }
    }
    client, _ = mock_client(lambda r: httpx.Response(422, json=body))
    with pytest.raises(ValidationFailed) as info:
        client.create_model(name="x")
    error = info.value
    assert (error.status_code, error.code, error.request_id) == (422, "validation_failed", "req_9")
    assert error.details == {"field": "name"} and error.server_message == "name is too long"


def test_error_without_json_body_still_says_what_happened() -> None:
    client, _ = mock_client(
        lambda r: httpx.Response(418, text="<html>teapot</html>", headers={"X-Request-ID": "r1"})
    )
    with pytest.raises(JFrogMLStatusError) as info:
        client.get_model("m")
    assert type(info.value) is JFrogMLStatusError
    assert info.value.request_id == "r1" and "teapot" in str(info.value)


def test_a_non_api_answer_is_an_unexpected_response() -> None:
    client, _ = mock_client(lambda r: httpx.Response(200, text="<html>login</html>"))
    with pytest.raises(UnexpectedResponse, match="jfml doctor"):
        client.get_model("m")


def test_500_is_a_server_error_and_not_retried() -> None:
    client, seen = mock_client(lambda r: httpx.Response(500), retry=RetryPolicy(backoff_base=0))
    with pytest.raises(ServerError):
        client.get_model("m")
    assert len(seen) == 1


def test_retry_after_parsing() -> None:
    now = time.time()
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("-1") == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert 28 <= (parse_retry_after(date, now=now) or 0) <= 30
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0


def test_retry_policy_values() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_max=3.0)
    assert [policy.backoff_ceiling(n) for n in (1, 2, 3, 4, 50)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="max_total_seconds"):
        RetryPolicy(max_total_seconds=float("inf"))


def test_overrides_and_settings_cannot_mix() -> None:
    client, _ = mock_client(lambda r: httpx.Response(200, json=MODEL), timeout=3.5)
    assert client.settings.timeout == 3.5
    with pytest.raises(TypeError, match="token"):
        JFrogMLClient(client.settings, token="x")


@pytest.mark.parametrize(
    ("status", "cls_name"),
    [
        (400, "ValidationFailed"),
        (401, "Unauthorized"),
        (403, "Forbidden"),
        (404, "NotFound"),
        (405, "JFrogMLStatusError"),
        (409, "Conflict"),
        (413, "ValidationFailed"),
        (415, "ValidationFailed"),
        (422, "ValidationFailed"),
        (429, "RateLimited"),
        (500, "ServerError"),
        (502, "ServerError"),
        (503, "ServerError"),
        (504, "ServerError"),
    ],
)
def test_status_codes_map_to_typed_errors(status: int, cls_name: str) -> None:
    import jfml_tracking.client as client_module

    body = {"error": {"code": "x", "message": "nope"}}
    client, seen = mock_client(lambda r: httpx.Response(status, json=body))
    with pytest.raises(JFrogMLStatusError) as info:
        client.get_model("m")
    assert type(info.value) is getattr(client_module, cls_name)
    assert info.value.status_code == status and info.value.method == "GET"
    assert info.value.path == "/ml/api/v1/models/m" and len(seen) == 1
    if status == 403:
        assert "administrator" in str(info.value)


def test_every_error_has_the_same_attributes() -> None:
    from jfml_tracking.client import ConnectionFailed

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client, _ = mock_client(refuse)
    with pytest.raises(ConnectionFailed) as info:
        client.get_model("m")
    error = info.value
    assert (error.status_code, error.code, error.request_id, error.server_message) == (
        None,
        None,
        None,
        "",
    )
    assert (error.method, error.path) == ("GET", "/ml/api/v1/models/m")
    assert isinstance(error.__cause__, httpx.ConnectError)
