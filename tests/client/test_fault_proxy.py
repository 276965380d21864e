"""The fault proxy itself (other parts reuse it): each action, matching, counters, reset."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.fault_proxy import (
    Delay,
    DelayResponse,
    DropAfterForward,
    DropBeforeForward,
    FaultProxy,
    Pass,
    Respond,
)


@pytest.fixture
def proxy(jfml_server: Any) -> Iterator[FaultProxy]:
    with FaultProxy(jfml_server.url) as p:
        yield p


@pytest.fixture
def http(proxy: FaultProxy, jfml_server: Any) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {jfml_server.token}"}
    with httpx.Client(base_url=proxy.url + "/ml/api", headers=headers, timeout=5) as client:
        yield client


def test_pass_relays_the_answer_over_keep_alive(proxy: FaultProxy, http: httpx.Client) -> None:
    for _ in range(3):
        assert http.get("/v1/models").status_code == 200
    assert (proxy.seen, proxy.forwarded, proxy.connections_accepted) == (3, 3, 1)


def test_drop_before_forward_never_reaches_the_server(
    proxy: FaultProxy, http: httpx.Client
) -> None:
    proxy.script([DropBeforeForward()])
    with pytest.raises(httpx.RemoteProtocolError):
        http.get("/v1/models")
    assert (proxy.seen, proxy.forwarded) == (1, 0)


def test_drop_after_forward_reaches_the_server_but_loses_the_answer(
    proxy: FaultProxy, http: httpx.Client
) -> None:
    proxy.script([DropAfterForward()], when="POST")
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/v1/models", json={"name": "proxy-dropped-answer"})
    assert proxy.forwarded == 1
    names = [m["name"] for m in http.get("/v1/models", params={"limit": 1000}).json()["models"]]
    assert "proxy-dropped-answer" in names


def test_respond_answers_without_forwarding(proxy: FaultProxy, http: httpx.Client) -> None:
    proxy.script([Respond(429, retry_after="7", body=b'{"error": {}}')])
    response = http.get("/v1/models")
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    assert response.json() == {"error": {}} and proxy.forwarded == 0


def test_delays(proxy: FaultProxy, http: httpx.Client) -> None:
    proxy.script([Delay(0.3), DelayResponse(0.3)])
    for _ in range(2):
        began = time.monotonic()
        assert http.get("/v1/models").status_code == 200
        assert time.monotonic() - began >= 0.3
    proxy.script([DelayResponse(2.0)])
    with pytest.raises(httpx.ReadTimeout):
        http.get("/v1/models", timeout=0.3)
    assert proxy.forwarded == 3


def test_script_matching_default_counters_and_reset(proxy: FaultProxy, http: httpx.Client) -> None:
    proxy.script([Respond(503)], when=lambda method, path: path.startswith("/ml/api/v1/dep"))
    assert http.get("/v1/models").status_code == 200  # not matched: default Pass
    assert http.get("/v1/deployments").status_code == 503
    proxy.set_default(Respond(502))
    assert http.get("/v1/models").status_code == 502
    assert proxy.count("GET") == 3 and proxy.count(path_prefix="/ml/api/v1/dep") == 1
    assert [type(r.action) for r in proxy.log] == [Pass, Respond, Respond]
    proxy.reset()
    assert (proxy.seen, proxy.forwarded) == (0, 0)
    assert http.get("/v1/models").status_code == 200


def test_set_listening_refuses_then_accepts_on_the_same_port(
    proxy: FaultProxy, http: httpx.Client
) -> None:
    url = proxy.url
    proxy.set_listening(False)
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/ml/api/v1/models", timeout=2)
    proxy.set_listening(True)
    assert proxy.url == url
    assert http.get("/v1/models").status_code == 200
