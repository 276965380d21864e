from __future__ import annotations

import base64

import httpx
import pytest

from jfml_tracking.server.auth import (
    Authenticator,
    hash_password,
    load_users_file,
    token_principal,
    verify_password,
)
from tests.support.servers import api_client


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", "Bearer", "Token test-token", "Basic !!!", _basic("nobody", "x")],
)
def test_every_api_route_refuses_bad_credentials_with_a_challenge(jfml_server, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    for method, path in [
        ("GET", "/v1/models"),
        ("POST", "/v1/models"),
        ("DELETE", "/v1/deployments/x"),
        ("GET", "/v1/no-such-route"),
        ("GET", "/openapi.json"),
    ]:
        answer = httpx.request(method, jfml_server.api_url + path, headers=headers)
        assert answer.status_code == 401
        challenges = answer.headers.get_list("WWW-Authenticate")
        assert any(c.startswith("Bearer") for c in challenges)
        assert any(c.startswith("Basic") for c in challenges)
        assert answer.json()["error"]["code"] == "unauthorized"


def test_basic_users_authenticate_and_become_created_by(server_factory):
    server = server_factory(tokens=(), users={"alice": hash_password("s3cret:with:colons")})
    auth = {"Authorization": _basic("alice", "s3cret:with:colons")}
    with httpx.Client(base_url=server.api_url, headers=auth) as api:
        for _ in range(2):  # the second request takes the remembered-login path
            model = api.post("/v1/models", json={"name": f"m{_}"})
            assert model.status_code == 201
            assert model.json()["created_by"] == "alice"
    wrong = httpx.get(
        server.api_url + "/v1/models", headers={"Authorization": _basic("alice", "nope")}
    )
    assert wrong.status_code == 401


def test_any_of_several_tokens_works_and_names_a_non_secret_principal(server_factory):
    server = server_factory(tokens=("tok-one", "tok-two"))
    for token in ("tok-one", "tok-two"):
        api = httpx.Client(base_url=server.api_url, headers={"Authorization": f"Bearer {token}"})
        answer = api.post("/v1/models", json={"name": f"model-{token[-3:]}"})
        assert answer.status_code == 201
        assert answer.json()["created_by"] == token_principal(token)
        assert token not in answer.text


def test_no_auth_serves_anonymous(server_factory):
    server = server_factory(tokens=(), no_auth=True)
    answer = httpx.post(server.api_url + "/v1/models", json={"name": "m"})
    assert answer.status_code == 201
    assert answer.json()["created_by"] == "anonymous"


def test_a_server_without_credentials_refuses_everything(server_factory):
    server = server_factory(tokens=())
    with api_client(server) as api:
        assert api.get("/v1/models").status_code == 401


def test_users_file_keeps_only_salted_hashes(tmp_path):
    path = tmp_path / "users"
    path.write_text("# comment\nalice:pw1\n\nbob:pw:2\n")
    users = load_users_file(path)
    assert set(users) == {"alice", "bob"}
    assert "pw1" not in repr(users)
    assert users["alice"].startswith("scrypt$")
    assert verify_password("pw:2", users["bob"])
    assert not verify_password("pw1", users["bob"])
    assert hash_password("same") != hash_password("same")  # salted


@pytest.mark.parametrize(
    "content", ["alice-hunter2\n", ":hunter2\n", "alice:\n", "a:hunter2\na:hunter2\n"]
)
def test_users_file_errors_name_the_line_not_the_secret(tmp_path, content):
    path = tmp_path / "users"
    path.write_text(content)
    with pytest.raises(ValueError, match="line") as caught:
        load_users_file(path)
    assert "hunter2" not in str(caught.value)


def test_authenticator_rejects_malformed_headers():
    auth = Authenticator(tokens=["t"], users={"u": hash_password("p")})
    assert auth.principal("Bearer t") == token_principal("t")
    assert auth.principal("bearer t") == token_principal("t")
    assert auth.principal(_basic("u", "p")) == "u"
    for header in ("", "Bearer", "Basic " + base64.b64encode(b"no-colon").decode(), "Basic \xff"):
        assert auth.principal(header) is None


def _echo_runtime():
    """A deployment runtime whose /serving app answers every POST (the auth layer is tested)."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from jfml_tracking.server.runtime import ImmediateRuntime

    async def invocations(request):
        return JSONResponse({"predictions": [len(await request.body())]})

    app = Starlette(
        routes=[Route("/v1/deployments/{id}/invocations", invocations, methods=["POST"])]
    )
    runtime = ImmediateRuntime()
    runtime.asgi_app = lambda: app
    return runtime


def test_serving_endpoints_need_the_api_credentials(server_factory):
    server = server_factory(
        tokens=("tok-one",), users={"alice": hash_password("pw")}, runtime=_echo_runtime()
    )
    url = server.url + "/serving/v1/deployments/dep_x/invocations"
    body = {"inputs": [[1.0, 2.0]]}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": _basic("alice", "x")}):
        answer = httpx.post(url, json=body, headers=headers)
        assert answer.status_code == 401
        challenges = answer.headers.get_list("WWW-Authenticate")
        assert any(c.startswith("Bearer") for c in challenges)
        assert any(c.startswith("Basic") for c in challenges)
        assert answer.json()["error"]["code"] == "unauthorized"
    for authorization in ("Bearer tok-one", _basic("alice", "pw")):
        answer = httpx.post(url, json=body, headers={"Authorization": authorization})
        assert answer.status_code == 200
        assert answer.json()["predictions"][0] > 0
    assert httpx.get(server.url + "/health").status_code == 200  # readiness stays open


def test_no_auth_leaves_serving_endpoints_open(server_factory):
    server = server_factory(no_auth=True, runtime=_echo_runtime())
    answer = httpx.post(
        server.url + "/serving/v1/deployments/dep_x/invocations", json={"inputs": [1]}
    )
    assert answer.status_code == 200
