from __future__ import annotations

from datetime import datetime, timedelta, timezone


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _model_id(api, unique):
    return api.post("/v1/models", json={"name": unique("em")}).json()["id"]


def test_plain_create_is_running_with_a_server_created_at(api, unique):
    before = datetime.now(timezone.utc)
    answer = api.post("/v1/experiments", json={"name": "run", "parameters": {"lr": "0.1"}})
    assert answer.status_code == 201
    experiment = answer.json()
    assert experiment["id"].startswith("exp_")
    assert experiment["status"] == "running"
    assert "completed_at" not in experiment
    created = datetime.fromisoformat(experiment["created_at"])
    assert before - timedelta(seconds=5) <= created <= datetime.now(timezone.utc)
    assert experiment["parameters"] == {"lr": "0.1"}
    assert api.get(f"/v1/experiments/{experiment['id']}").json() == experiment


def test_finished_run_in_one_request_keeps_its_status_metrics_and_times(api, unique):
    model_id = _model_id(api, unique)
    body = {
        "name": "run",
        "model_id": model_id,
        "status": "failed",
        "metrics": {"loss": 0.25},
        "created_at": "2024-05-01T10:00:00Z",
        "completed_at": "2024-05-01T11:30:00+00:00",
    }
    experiment = api.post("/v1/experiments", json=body).json()
    assert experiment["status"] == "failed"
    assert experiment["metrics"] == {"loss": 0.25}
    assert experiment["created_at"] == "2024-05-01T10:00:00Z"
    assert experiment["completed_at"] == "2024-05-01T11:30:00Z"


def test_completed_at_alone_means_completed_and_terminal_status_gets_completed_at(api):
    done = api.post(
        "/v1/experiments", json={"name": "r", "completed_at": "2030-01-01T00:00:00Z"}
    ).json()
    assert done["status"] == "completed"
    cancelled = api.post("/v1/experiments", json={"name": "r", "status": "cancelled"}).json()
    assert cancelled["status"] == "cancelled"
    assert _ts(cancelled["completed_at"]) >= _ts(cancelled["created_at"])


def test_inconsistent_lifecycles_are_422(api):
    running_done = api.post(
        "/v1/experiments",
        json={"name": "r", "status": "running", "completed_at": "2024-01-01T00:00:00Z"},
    )
    assert running_done.status_code == 422
    assert "completed_at" in running_done.json()["error"]["message"]
    backwards = api.post(
        "/v1/experiments",
        json={
            "name": "r",
            "status": "completed",
            "created_at": "2024-01-02T00:00:00Z",
            "completed_at": "2024-01-01T00:00:00Z",
        },
    )
    assert backwards.status_code == 422
    assert "before created_at" in backwards.json()["error"]["message"]
    unknown = api.post("/v1/experiments", json={"name": "r", "status": "done"})
    assert unknown.status_code == 422
    nan = api.post(
        "/v1/experiments",
        content=b'{"name": "r", "metrics": {"loss": NaN}}',
        headers={"Content-Type": "application/json"},
    )
    assert nan.status_code == 422, nan.text


def test_model_id_must_exist(api):
    answer = api.post("/v1/experiments", json={"name": "r", "model_id": "mdl_nope"})
    assert answer.status_code == 404
    assert "mdl_nope" in answer.json()["error"]["message"]


def test_model_id_filters_the_list(api, unique):
    mine, other = _model_id(api, unique), _model_id(api, unique)
    ids = [
        api.post("/v1/experiments", json={"name": f"r{i}", "model_id": mine}).json()["id"]
        for i in range(3)
    ]
    api.post("/v1/experiments", json={"name": "x", "model_id": other})
    listed = api.get("/v1/experiments", params={"model_id": mine}).json()
    assert [e["id"] for e in listed["experiments"]] == ids
    assert listed["total_count"] == 3
    page = api.get("/v1/experiments", params={"model_id": mine, "limit": 2, "offset": 2}).json()
    assert [e["id"] for e in page["experiments"]] == ids[2:]
    assert api.get("/v1/experiments", params={"model_id": "mdl_nope"}).json() == {
        "experiments": [],
        "total_count": 0,
    }


def test_delete_experiment(api):
    experiment = api.post("/v1/experiments", json={"name": "r"}).json()
    assert api.delete(f"/v1/experiments/{experiment['id']}").status_code == 204
    assert api.get(f"/v1/experiments/{experiment['id']}").status_code == 404
    assert api.delete(f"/v1/experiments/{experiment['id']}").status_code == 404
