"""Authentication against the real server: bearer, basic, a rotated token file, and 401s."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jfml_tracking.client import JFrogMLClient, Unauthorized
from jfml_tracking.server.auth import hash_password

MakeClient = Callable[..., JFrogMLClient]


def test_bearer_token(client: JFrogMLClient) -> None:
    assert client.list_models(limit=1).total_count is not None


def test_basic_auth_from_env(server_factory: Callable[..., Any]) -> None:
    server = server_factory(tokens=(), users={"joe": hash_password("s3cret-pw")})
    env = {"JF_URL": server.url, "JF_USER": "joe", "JF_PASSWORD": "s3cret-pw"}
    with JFrogMLClient.from_tracking_uri("jfml:", env=env) as client:
        model = client.create_model(name="basic")
        assert model.created_by and "joe" in model.created_by


def test_wrong_token_is_unauthorized_naming_the_source_not_the_token(jfml_server: Any) -> None:
    env = {"JF_ACCESS_TOKEN": "wrong-token-0123456789"}
    with (
        JFrogMLClient(
            tracking_uri=f"jfml+http://{jfml_server.url.split('//')[1]}", env=env
        ) as client,
        pytest.raises(Unauthorized) as info,
    ):
        client.list_models()
    error = info.value
    assert error.status_code == 401 and error.method == "GET"
    assert error.credential_source == "JF_ACCESS_TOKEN environment variable"
    text = str(error)
    assert "JF_ACCESS_TOKEN environment variable" in text and "Fix:" in text
    assert "wrong-token-0123456789" not in text + repr(error)


def test_unauthorized_is_not_retried(jfml_server: Any, make_client: MakeClient) -> None:
    from tests.support.fault_proxy import FaultProxy

    with FaultProxy(jfml_server.url) as proxy:
        client = make_client(proxy.url, "wrong-token-0123456789")
        with pytest.raises(Unauthorized):
            client.get_model("anything")
        assert proxy.seen == 1


def test_rotated_token_file_is_reread_on_401(jfml_server: Any, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("expired-token-0123456789\n")
    env = {"JF_URL": jfml_server.url, "JF_ACCESS_TOKEN_FILE": str(token_file)}
    with JFrogMLClient(env=env) as client:
        with pytest.raises(Unauthorized) as info:
            client.list_models(limit=1)
        assert str(token_file) in str(info.value)
        token_file.write_text(jfml_server.token + "\n")  # the secret is rotated in place
        assert client.list_models(limit=1).total_count is not None
        assert client.create_model(name=f"rotated-{tmp_path.name}").id
