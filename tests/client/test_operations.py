"""Every operation of the contract, through the client, against the real reference server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from jfml_tracking.api import (
    ExperimentRequest,
    ExperimentStatus,
    ModelRequest,
    ModelVersionRequest,
    ModelVersionStatus,
)
from jfml_tracking.client import Conflict, JFrogMLClient, NotFound

Unique = Callable[[str], str]


def test_model_lifecycle(client: JFrogMLClient, unique: Unique) -> None:
    name = unique("model")
    model = client.create_model(name=name, framework="sklearn", tags=["a", "b"])
    assert model.name == name and model.framework == "sklearn" and model.tags == ["a", "b"]
    assert client.get_model(model.id) == model

    updated = client.update_model(model.id, ModelRequest(name=name, description="better"))
    assert updated.description == "better"
    assert client.get_model(model.id).description == "better"
    assert client.find_model_by_name(name) == client.get_model(model.id)

    client.delete_model(model.id)
    with pytest.raises(NotFound):
        client.get_model(model.id)
    assert client.find_model_by_name(name) is None


def test_list_models_pages_and_iter_models_walks_them(
    client: JFrogMLClient, unique: Unique
) -> None:
    names = {client.create_model(name=unique("paged")).name for _ in range(5)}
    page = client.list_models(limit=2, offset=0)
    assert len(page.models) == 2
    assert page.total_count is not None and page.total_count >= 5
    walked = [m.name for m in client.iter_models(page_size=2)]
    assert names <= set(walked)
    assert len(walked) == len(set(walked)) == page.total_count


def test_model_version_lifecycle(client: JFrogMLClient, unique: Unique) -> None:
    model = client.create_model(name=unique("versioned"))
    v1 = client.create_model_version(
        model.id,
        ModelVersionRequest(version="1", metrics={"acc": 0.9}, parameters={"lr": "0.1"}),
    )
    v2 = client.create_model_version(model.id, version="2", status=ModelVersionStatus.STAGING)
    assert (v1.version, v1.metrics, v1.parameters) == ("1", {"acc": 0.9}, {"lr": "0.1"})
    assert v2.status is ModelVersionStatus.STAGING
    assert client.get_model_version(model.id, v1.id) == v1
    assert [v.id for v in client.list_model_versions(model.id).versions] == [v1.id, v2.id]
    assert [v.id for v in client.iter_model_versions(model.id, page_size=1)] == [v1.id, v2.id]
    assert client.find_model_version(model.id, "2") == v2
    assert client.find_model_version(model.id, "3") is None

    client.delete_model_version(model.id, v1.id)
    with pytest.raises(NotFound):
        client.get_model_version(model.id, v1.id)
    assert [v.id for v in client.iter_model_versions(model.id)] == [v2.id]


def test_experiment_lifecycle(client: JFrogMLClient, unique: Unique) -> None:
    model = client.create_model(name=unique("exp-model"))
    started = datetime.now(timezone.utc)
    exp = client.create_experiment(
        ExperimentRequest(
            name="run-1",
            model_id=model.id,
            parameters={"lr": "0.1"},
            status=ExperimentStatus.COMPLETED,
            metrics={"loss": 0.5},
        )
    )
    assert (exp.name, exp.model_id, exp.parameters) == ("run-1", model.id, {"lr": "0.1"})
    assert exp.status is ExperimentStatus.COMPLETED and exp.metrics == {"loss": 0.5}
    assert client.get_experiment(exp.id) == exp
    other = client.create_experiment(name="run-2", model_id=model.id)

    assert {e.id for e in client.list_experiments(model.id).experiments} == {exp.id, other.id}
    assert {e.id for e in client.iter_experiments(model.id, page_size=1)} == {exp.id, other.id}
    assert exp.id in {e.id for e in client.iter_experiments()}

    window = (started - timedelta(minutes=1), datetime.now(timezone.utc) + timedelta(minutes=1))
    assert client.find_experiment("run-1", model.id, *window) == exp
    assert client.find_experiment("run-1", model.id, window[1], None) is None
    assert client.find_experiment("run-1", model.id, parameters={"lr": "0.2"}) is None

    client.delete_experiment(exp.id)
    with pytest.raises(NotFound):
        client.get_experiment(exp.id)


def test_deployment_lifecycle(client: JFrogMLClient, unique: Unique) -> None:
    model = client.create_model(name=unique("deployed"))
    version = client.create_model_version(model.id, version="1")
    name = unique("dep")
    dep = client.create_deployment(name=name, model_id=model.id, model_version_id=version.id)
    assert (dep.name, dep.model_id, dep.model_version_id) == (name, model.id, version.id)
    assert client.get_deployment(dep.id).id == dep.id
    assert dep.id in {d.id for d in client.list_deployments(limit=1000).deployments}
    assert dep.id in {d.id for d in client.iter_deployments(page_size=1)}

    client.delete_deployment(dep.id)
    with pytest.raises(NotFound):
        client.get_deployment(dep.id)


def test_create_model_of_existing_name_is_a_conflict(client: JFrogMLClient, unique: Unique) -> None:
    name = unique("dup")
    first = client.create_model(name=name)
    with pytest.raises(Conflict) as info:
        client.create_model(name=name)
    assert info.value.status_code == 409 and info.value.code == "conflict"
    assert info.value.method == "POST" and info.value.path == "/ml/api/v1/models"
    assert info.value.request_id
    assert name in str(info.value)
    assert info.value.details.get("existing_id") == first.id


def test_client_is_a_context_manager_reusing_one_connection(
    jfml_server: object, unique: Unique
) -> None:
    from tests.support.fault_proxy import FaultProxy

    with FaultProxy(jfml_server.url) as proxy:  # type: ignore[attr-defined]
        with JFrogMLClient(
            platform_url=proxy.url,
            token=jfml_server.token,  # type: ignore[attr-defined]
            env={},
        ) as client:
            model = client.create_model(name=unique("reuse"))
            for _ in range(5):
                client.get_model(model.id)
            assert proxy.seen == 6
            assert proxy.connections_accepted == 1
        with pytest.raises(RuntimeError):
            client.get_model(model.id)  # closed: misuse, like httpx


def test_one_client_serves_many_threads(client: JFrogMLClient, unique: Unique) -> None:
    from concurrent.futures import ThreadPoolExecutor

    prefix = unique("threads")

    def work(i: int) -> str:
        model = client.create_model(name=f"{prefix}-{i}")
        assert client.get_model(model.id).name == f"{prefix}-{i}"
        return model.id

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(work, range(16)))
    assert len(set(ids)) == 16
    names = {m.name for m in client.iter_models() if (m.name or "").startswith(prefix)}
    assert names == {f"{prefix}-{i}" for i in range(16)}
