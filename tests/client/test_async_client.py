"""``AsyncJFrogMLClient`` against the real server: the operations, retries and reconciliation
(the decisions are shared with the sync client; these prove the async driver carries them)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from jfml_tracking.client import (
    AsyncJFrogMLClient,
    Conflict,
    ConnectionFailed,
    JFrogMLClient,
    NotFound,
    RetryPolicy,
    ServerError,
)
from tests.support.fault_proxy import DelayResponse, DropAfterForward, FaultProxy, Respond

T = TypeVar("T")
FAST_RETRY = RetryPolicy(max_attempts=5, max_total_seconds=10.0, backoff_base=0.02, backoff_max=0.2)
Unique = Callable[[str], str]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def async_client(url: str, token: str, **overrides: Any) -> AsyncJFrogMLClient:
    overrides.setdefault("retry", FAST_RETRY)
    return AsyncJFrogMLClient(platform_url=url, token=token, env={}, **overrides)


def test_every_operation(jfml_server: Any, unique: Unique) -> None:
    async def scenario() -> None:
        async with async_client(jfml_server.url, jfml_server.token) as client:
            name = unique("async")
            model = await client.create_model(name=name)
            with pytest.raises(Conflict):
                await client.create_model(name=name)
            assert (await client.get_model(model.id)).name == name
            assert (await client.update_model(model.id, name=name, description="d")).description
            assert await client.find_model_by_name(name) == await client.get_model(model.id)
            assert model.id in [m.id async for m in client.iter_models(page_size=2)]
            assert (await client.list_models(limit=1)).total_count

            version = await client.create_model_version(model.id, version="1")
            assert await client.get_model_version(model.id, version.id) == version
            assert [v.id async for v in client.iter_model_versions(model.id)] == [version.id]
            assert (await client.list_model_versions(model.id)).versions == [version]
            assert await client.find_model_version(model.id, "1") == version

            exp = await client.create_experiment(name="run", model_id=model.id)
            assert await client.get_experiment(exp.id) == exp
            assert await client.find_experiment("run", model.id) == exp
            assert [e.id async for e in client.iter_experiments(model.id)] == [exp.id]
            assert (await client.list_experiments(model.id)).experiments == [exp]

            dep = await client.create_deployment(
                name=unique("dep"), model_id=model.id, model_version_id=version.id
            )
            assert (await client.get_deployment(dep.id)).id == dep.id
            assert dep.id in [d.id async for d in client.iter_deployments()]
            assert dep.id in [d.id for d in (await client.list_deployments(limit=1000)).deployments]

            await client.delete_deployment(dep.id)
            await client.delete_experiment(exp.id)
            await client.delete_model_version(model.id, version.id)
            await client.delete_model(model.id)
            with pytest.raises(NotFound):
                await client.get_model(model.id)

    run(scenario())


def test_ambiguous_posts_make_exactly_one_entity(
    jfml_server: Any, client: JFrogMLClient, unique: Unique
) -> None:
    name = unique("async-ambiguous")

    async def scenario(proxy: FaultProxy) -> tuple[str, str]:
        async with async_client(proxy.url, jfml_server.token, timeout=1.0) as aclient:
            proxy.script([DropAfterForward(), DelayResponse(2.5)], when="POST")
            model = await aclient.create_model(name=name)
            exp = await aclient.create_experiment(name="run", model_id=model.id)
            return model.id, exp.id

    with FaultProxy(jfml_server.url) as proxy:
        model_id, exp_id = run(scenario(proxy))
        assert proxy.count("POST") == 2
    assert [m.id for m in client.iter_models() if m.name == name] == [model_id]
    assert [e.id for e in client.iter_experiments(model_id)] == [exp_id]


def test_retries_and_gives_up_within_its_bound(jfml_server: Any) -> None:
    async def scenario(proxy: FaultProxy) -> float:
        bounded = RetryPolicy(max_attempts=100, max_total_seconds=1.0, backoff_base=0.05)
        async with async_client(proxy.url, jfml_server.token, retry=bounded) as aclient:
            proxy.script([Respond(503), Respond(429, retry_after="0.1")])
            await aclient.list_models(limit=1)
            assert proxy.count("GET") == 3
            proxy.set_default(Respond(503))
            began = time.monotonic()
            with pytest.raises(ServerError, match="gave up after"):
                await aclient.list_models()
            return time.monotonic() - began

    with FaultProxy(jfml_server.url) as proxy:
        assert run(scenario(proxy)) <= 2.0


def test_ambiguous_version_and_deployment_posts(
    jfml_server: Any, client: JFrogMLClient, unique: Unique
) -> None:
    model = client.create_model(name=unique("async-owner"))
    name = unique("async-dep")

    async def scenario(proxy: FaultProxy) -> None:
        async with AsyncJFrogMLClient.from_tracking_uri(
            "jfml+http://" + proxy.url.removeprefix("http://"),
            token=jfml_server.token,
            env={},
            retry=FAST_RETRY,
        ) as aclient:
            proxy.script([DropAfterForward(), DropAfterForward()], when="POST")
            version = await aclient.create_model_version(model.id, version="1")
            dep = await aclient.create_deployment(
                name=name, model_id=model.id, model_version_id=version.id
            )
            assert await aclient.find_model_by_name(unique("absent")) is None
            assert await aclient.find_model_version(model.id, "2") is None
            await aclient.delete_deployment(dep.id)

    with FaultProxy(jfml_server.url) as proxy:
        run(scenario(proxy))
        assert proxy.count("POST") == 2
    assert [v.version for v in client.iter_model_versions(model.id)] == ["1"]


def test_failed_lookup_after_an_ambiguous_post_is_reported(jfml_server: Any) -> None:
    async def scenario(proxy: FaultProxy) -> None:
        policy = RetryPolicy(max_attempts=2, max_total_seconds=2, backoff_base=0.01)
        async with async_client(proxy.url, jfml_server.token, retry=policy) as aclient:
            proxy.script([DropAfterForward()], when="POST")
            proxy.script([Respond(503)] * 5, when="GET")
            with pytest.raises(ConnectionFailed) as info:
                await aclient.create_model(name="async-unchecked")
            assert info.value.maybe_processed

    with FaultProxy(jfml_server.url) as proxy:
        run(scenario(proxy))
