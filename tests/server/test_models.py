from __future__ import annotations

from datetime import datetime


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _model(api, name, **fields):
    answer = api.post("/v1/models", json={"name": name, **fields})
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_create_returns_the_model_with_server_fields(api, unique):
    name = unique("churn")
    model = _model(api, name, description="d", framework="sklearn", task_type="cls", tags=["a"])
    assert model["id"].startswith("mdl_")
    assert model["name"] == name
    assert (model["description"], model["framework"], model["task_type"]) == ("d", "sklearn", "cls")
    assert model["tags"] == ["a"]
    assert model["versions_count"] == 0
    assert "latest_version" not in model
    assert model["created_by"].startswith("token:")
    assert "test-token" not in model["created_by"]
    assert model["created_at"] == model["updated_at"]
    assert api.get(f"/v1/models/{model['id']}").json() == model


def test_duplicate_name_is_409_with_the_existing_id(api, unique):
    name = unique("dup")
    first = _model(api, name)
    answer = api.post("/v1/models", json={"name": name})
    assert answer.status_code == 409
    error = answer.json()["error"]
    assert error["code"] == "conflict"
    assert name in error["message"]
    assert error["details"]["existing_id"] == first["id"]


def test_rename_onto_a_taken_name_is_409(api, unique):
    taken = _model(api, unique("taken"))
    other = _model(api, unique("other"))
    answer = api.put(f"/v1/models/{other['id']}", json={"name": taken["name"]})
    assert answer.status_code == 409
    assert api.get(f"/v1/models/{other['id']}").json()["name"] == other["name"]


def test_put_updates_sent_fields_keeps_others_and_moves_updated_at(api, unique):
    model = _model(api, unique("upd"), description="keep me", tags=["x"])
    new_name = unique("renamed")
    answer = api.put(f"/v1/models/{model['id']}", json={"name": new_name, "framework": "torch"})
    assert answer.status_code == 200
    updated = answer.json()
    assert updated["name"] == new_name
    assert updated["framework"] == "torch"
    assert updated["description"] == "keep me"
    assert updated["tags"] == ["x"]
    assert updated["created_at"] == model["created_at"]
    assert datetime.fromisoformat(updated["updated_at"]) > datetime.fromisoformat(
        model["updated_at"]
    )
    again = api.put(f"/v1/models/{model['id']}", json={"name": new_name, "description": None})
    assert "description" not in again.json()
    assert _ts(again.json()["updated_at"]) > _ts(updated["updated_at"])


def test_versions_count_and_latest_version_follow_versions(api, unique):
    model = _model(api, unique("counts"))
    base = f"/v1/models/{model['id']}"
    v1 = api.post(f"{base}/versions", json={"version": "1"}).json()
    v2 = api.post(f"{base}/versions", json={"version": "2"}).json()
    got = api.get(base).json()
    assert (got["versions_count"], got["latest_version"]) == (2, "2")
    assert api.delete(f"{base}/versions/{v2['id']}").status_code == 204
    got = api.get(base).json()
    assert (got["versions_count"], got["latest_version"]) == (1, "1")
    assert api.delete(f"{base}/versions/{v1['id']}").status_code == 204
    got = api.get(base).json()
    assert got["versions_count"] == 0
    assert "latest_version" not in got


def test_delete_removes_the_model_its_versions_and_experiments(api, unique):
    model = _model(api, unique("gone"))
    base = f"/v1/models/{model['id']}"
    version = api.post(f"{base}/versions", json={"version": "1"}).json()
    experiment = api.post("/v1/experiments", json={"name": "e", "model_id": model["id"]}).json()
    answer = api.delete(base)
    assert answer.status_code == 204
    assert answer.content == b""
    assert api.get(base).status_code == 404
    assert api.get(f"{base}/versions/{version['id']}").status_code == 404
    assert api.get(f"/v1/experiments/{experiment['id']}").status_code == 404
    assert api.delete(base).status_code == 404
    # The name is free again.
    assert api.post("/v1/models", json={"name": model["name"]}).status_code == 201


def test_unknown_model_is_404_naming_it(api):
    answer = api.get("/v1/models/mdl_nope")
    assert answer.status_code == 404
    assert "mdl_nope" in answer.json()["error"]["message"]
    assert api.put("/v1/models/mdl_nope", json={"name": "x"}).status_code == 404
