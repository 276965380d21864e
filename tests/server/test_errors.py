"""Bad input gets a 4xx in the one error shape, never a 500, and never writes anything."""

from __future__ import annotations

import pytest

from tests.support.servers import api_client


def _assert_error(answer, status, code):
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    error = answer.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert isinstance(error["details"], dict)
    assert error["request_id"] == answer.headers["X-Request-ID"]
    return error


@pytest.mark.parametrize(
    ("body", "status", "code", "needle"),
    [
        (b'{"name": ', 400, "bad_request", "not valid JSON"),
        (b"", 400, "bad_request", "empty"),
        (b"[1, 2]", 422, "validation_failed", "ModelRequest"),
        (b'{"name": 5}', 422, "validation_failed", "'name'"),
        (b'{"name": ""}', 422, "validation_failed", "'name'"),
        (b'{"description": "no name"}', 422, "validation_failed", "'name'"),
        (b'{"name": "x", "tags": "a"}', 422, "validation_failed", "'tags'"),
    ],
)
def test_bad_model_bodies(api, body, status, code, needle):
    before = api.get("/v1/models").json()["total_count"]
    answer = api.post("/v1/models", content=body, headers={"Content-Type": "application/json"})
    error = _assert_error(answer, status, code)
    assert needle in error["message"]
    assert api.get("/v1/models").json()["total_count"] == before


def test_wrong_types_and_unknown_enums(api, unique):
    model_id = api.post("/v1/models", json={"name": unique("bad")}).json()["id"]
    url = f"/v1/models/{model_id}/versions"
    for body in (
        {"version": "1", "status": "retired"},
        {"version": 1},
        {"version": "1", "metrics": {"acc": "high"}},
        {"version": "1", "parameters": {"lr": 0.1}},
    ):
        _assert_error(api.post(url, json=body), 422, "validation_failed")
    assert api.get(url).json()["total_count"] == 0


def test_non_json_content_type_is_415(api):
    answer = api.post("/v1/models", content=b"name=x", headers={"Content-Type": "text/plain"})
    _assert_error(answer, 415, "unsupported_media_type")


def test_oversized_bodies_are_413_and_write_nothing(server_factory):
    server = server_factory(max_body_bytes=4096)
    big = {"name": "big", "description": "x" * 10_000}
    with api_client(server) as api:
        error = _assert_error(api.post("/v1/models", json=big), 413, "payload_too_large")
        assert "4096" in error["message"]

        def chunks():  # no Content-Length: the limit must hold while streaming too
            yield b'{"name": "streamed", "description": "'
            for _ in range(10):
                yield b"y" * 1000
            yield b'"}'

        streamed = api.post(
            "/v1/models", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        assert api.get("/v1/models").json()["total_count"] == 0
        assert api.post("/v1/models", json={"name": "small"}).status_code == 201


def test_unknown_routes_and_methods_use_the_error_shape(api, jfml_server):
    _assert_error(api.get("/v1/nothing"), 404, "not_found")
    _assert_error(api.patch("/v1/models"), 405, "method_not_allowed")
    import httpx

    outside = httpx.get(jfml_server.url + "/elsewhere")
    assert outside.status_code == 404
    assert outside.json()["error"]["code"] == "not_found"


def test_request_id_is_echoed_when_safe(api):
    answer = api.get("/v1/models/mdl_nope", headers={"X-Request-ID": "abc-123"})
    assert answer.headers["X-Request-ID"] == "abc-123"
    assert answer.json()["error"]["request_id"] == "abc-123"
    minted = api.get("/v1/models/mdl_nope", headers={"X-Request-ID": "<script>"})
    assert minted.headers["X-Request-ID"].startswith("req_")


def test_huge_offsets_and_odd_ids_do_not_500(api):
    assert api.get("/v1/models", params={"offset": 2**62}).status_code == 200
    assert api.get("/v1/models", params={"offset": 2**70}).status_code == 422
    assert api.get("/v1/models/%00%ff").status_code == 404
    assert api.post("/v1/models", json={"name": "nul\x00name"}).status_code in (201, 400)
