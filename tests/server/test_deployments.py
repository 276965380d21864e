from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from jfml_tracking.api import DeploymentStatus
from jfml_tracking.server.runtime import DeploymentSpec, ImmediateRuntime, RuntimeState
from tests.support.servers import api_client as client_for


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class ScriptedRuntime:
    """A runtime whose answers the test sets: starts as ``deploying`` until told otherwise."""

    def __init__(self, *, fail_start: bool = False) -> None:
        self.fail_start = fail_start
        self.states: dict[str, RuntimeState] = {}
        self.specs: dict[str, DeploymentSpec] = {}
        self.base_urls: dict[str, str] = {}
        self.stopped: list[str] = []
        self.closed = False

    def start(self, spec: DeploymentSpec, *, base_url: str) -> RuntimeState:
        if self.fail_start:
            raise RuntimeError("no capacity")
        self.specs[spec.deployment_id] = spec
        self.base_urls[spec.deployment_id] = base_url
        state = RuntimeState(
            DeploymentStatus.DEPLOYING, endpoint_url=f"{base_url}/serving/{spec.deployment_id}"
        )
        self.states[spec.deployment_id] = state
        return state

    def stop(self, deployment_id: str) -> None:
        self.stopped.append(deployment_id)
        self.states.pop(deployment_id, None)

    def describe(self, deployment_id: str) -> RuntimeState | None:
        return self.states.get(deployment_id)

    def asgi_app(self) -> Any:
        return None

    def close(self) -> None:
        self.closed = True


def _model_and_version(
    api: httpx.Client, name: str, artifact: str = "runs:/r/model"
) -> tuple[str, str]:
    model = api.post("/v1/models", json={"name": name}).json()
    version = api.post(
        f"/v1/models/{model['id']}/versions", json={"version": "1", "artifact_path": artifact}
    ).json()
    return model["id"], version["id"]


def _deploy(
    api: httpx.Client, model_id: str, version_id: str, name: str = "dep", **extra: Any
) -> httpx.Response:
    body = {"name": name, "model_id": model_id, "model_version_id": version_id, **extra}
    return api.post("/v1/deployments", json=body)


def test_deployment_goes_deploying_then_active_and_stores_resources(server_factory):
    runtime = ScriptedRuntime()
    server = server_factory(runtime=runtime)
    with client_for(server) as api:
        model_id, version_id = _model_and_version(api, "m")
        answer = _deploy(
            api, model_id, version_id, resources={"cpu": "2", "memory": "1Gi", "gpu": 0}
        )
        assert answer.status_code == 201
        created = answer.json()
        assert created["status"] == "deploying"
        assert created["replicas"] == 1
        assert created["resources"] == {"cpu": "2", "memory": "1Gi", "gpu": 0}
        spec = runtime.specs[created["id"]]
        assert (spec.artifact_path, spec.replicas, spec.resources["cpu"]) == (
            "runs:/r/model",
            1,
            "2",
        )
        assert runtime.base_urls[created["id"]] == server.url
        endpoint = f"{server.url}/serving/v1/deployments/{created['id']}/invocations"
        runtime.states[created["id"]] = RuntimeState(DeploymentStatus.ACTIVE, endpoint_url=endpoint)
        got = api.get(f"/v1/deployments/{created['id']}").json()
        assert got["status"] == "active"
        assert got["endpoint_url"] == endpoint
        assert _ts(got["updated_at"]) > _ts(created["updated_at"])
        listed = api.get("/v1/deployments").json()
        assert [d["status"] for d in listed["deployments"]] == ["active"]


def test_runtime_failure_reason_is_kept_and_survives_a_restart(server_factory, tmp_path):
    db_url = f"sqlite:///{tmp_path / 'dep.db'}"
    runtime = ScriptedRuntime()
    server = server_factory(runtime=runtime, db_url=db_url)
    with client_for(server) as api:
        model_id, version_id = _model_and_version(api, "m")
        dep = _deploy(api, model_id, version_id).json()
        runtime.states[dep["id"]] = RuntimeState(
            DeploymentStatus.FAILED, reason="model file missing"
        )
        got = api.get(f"/v1/deployments/{dep['id']}").json()
        assert (got["status"], got["status_reason"]) == ("failed", "model file missing")
    server.stop()
    assert runtime.closed
    again = server_factory(runtime=ScriptedRuntime(), db_url=db_url)
    with client_for(again) as api:
        got = api.get(f"/v1/deployments/{dep['id']}").json()
        assert (got["status"], got["status_reason"]) == ("failed", "model file missing")


def test_a_runtime_that_raises_gives_failed_not_500(server_factory):
    server = server_factory(runtime=ScriptedRuntime(fail_start=True))
    with client_for(server) as api:
        model_id, version_id = _model_and_version(api, "m")
        answer = _deploy(api, model_id, version_id)
        assert answer.status_code == 201
        assert answer.json()["status"] == "failed"
        assert "no capacity" in answer.json()["status_reason"]


def test_active_deployments_are_started_again_after_a_restart(server_factory, tmp_path):
    db_url = f"sqlite:///{tmp_path / 'restart.db'}"
    first = server_factory(runtime=ImmediateRuntime(), db_url=db_url)
    with client_for(first) as api:
        model_id, version_id = _model_and_version(api, "m")
        dep = _deploy(api, model_id, version_id, replicas=2).json()
        assert dep["status"] == "active"
    first.stop()
    runtime = ScriptedRuntime()
    second = server_factory(runtime=runtime, db_url=db_url)
    assert runtime.specs[dep["id"]].replicas == 2
    assert runtime.base_urls[dep["id"]] == second.url
    with client_for(second) as api:
        got = api.get(f"/v1/deployments/{dep['id']}").json()
        assert got["endpoint_url"].startswith(second.url)


def test_model_and_version_must_exist_and_belong_together(api, unique):
    model_id, version_id = _model_and_version(api, unique("m"))
    other_id, _ = _model_and_version(api, unique("o"))
    assert _deploy(api, "mdl_nope", version_id, unique("d")).status_code == 404
    assert _deploy(api, model_id, "ver_nope", unique("d")).status_code == 404
    mismatch = _deploy(api, other_id, version_id, unique("d"))
    assert mismatch.status_code == 404
    assert version_id in mismatch.json()["error"]["message"]
    for replicas in (0, -1, "2"):
        assert _deploy(api, model_id, version_id, unique("d"), replicas=replicas).status_code == 422


def test_deleting_a_deployed_model_or_version_is_409_naming_the_deployment(server_factory):
    runtime = ImmediateRuntime()
    server = server_factory(runtime=runtime)
    with client_for(server) as api:
        model_id, version_id = _model_and_version(api, "m")
        dep = _deploy(api, model_id, version_id, "serving-churn").json()
        for url in (f"/v1/models/{model_id}/versions/{version_id}", f"/v1/models/{model_id}"):
            answer = api.delete(url)
            assert answer.status_code == 409
            error = answer.json()["error"]
            assert "serving-churn" in error["message"]
            assert error["details"]["deployment_id"] == dep["id"]
        assert api.delete(f"/v1/deployments/{dep['id']}").status_code == 204
        assert runtime.describe(dep["id"]) is None
        assert api.get(f"/v1/deployments/{dep['id']}").status_code == 404
        assert api.delete(f"/v1/models/{model_id}").status_code == 204


def test_duplicate_deployment_name_is_409(server_factory):
    server = server_factory(runtime=ImmediateRuntime())
    with client_for(server) as api:
        model_id, version_id = _model_and_version(api, "m")
        assert _deploy(api, model_id, version_id, "same").status_code == 201
        assert _deploy(api, model_id, version_id, "same").status_code == 409
        assert api.get("/v1/deployments").json()["total_count"] == 1
