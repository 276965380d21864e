from __future__ import annotations


def _model_id(api, unique):
    return api.post("/v1/models", json={"name": unique("vm")}).json()["id"]


def test_create_version_stores_everything(api, unique):
    model_id = _model_id(api, unique)
    body = {
        "version": "1.0",
        "description": "first",
        "status": "staging",
        "artifact_path": "models:/m/1",
        "metrics": {"acc": 0.9, "n": 3},
        "parameters": {"lr": "0.1"},
    }
    answer = api.post(f"/v1/models/{model_id}/versions", json=body)
    assert answer.status_code == 201
    version = answer.json()
    assert version["id"].startswith("ver_")
    assert version["model_id"] == model_id
    assert {k: version[k] for k in body} == {**body, "metrics": {"acc": 0.9, "n": 3.0}}
    assert version["created_by"].startswith("token:")
    assert api.get(f"/v1/models/{model_id}/versions/{version['id']}").json() == version


def test_status_defaults_to_draft(api, unique):
    model_id = _model_id(api, unique)
    version = api.post(f"/v1/models/{model_id}/versions", json={"version": "1"}).json()
    assert version["status"] == "draft"
    assert version["metrics"] == {} and version["parameters"] == {}


def test_duplicate_version_is_409_but_other_models_may_reuse_it(api, unique):
    model_id = _model_id(api, unique)
    assert api.post(f"/v1/models/{model_id}/versions", json={"version": "1"}).status_code == 201
    answer = api.post(f"/v1/models/{model_id}/versions", json={"version": "1"})
    assert answer.status_code == 409
    assert answer.json()["error"]["details"]["field"] == "version"
    other = _model_id(api, unique)
    assert api.post(f"/v1/models/{other}/versions", json={"version": "1"}).status_code == 201
    listed = api.get(f"/v1/models/{model_id}/versions").json()
    assert listed["total_count"] == 1


def test_unknown_model_is_404_for_create_and_list(api):
    assert api.post("/v1/models/mdl_nope/versions", json={"version": "1"}).status_code == 404
    assert api.get("/v1/models/mdl_nope/versions").status_code == 404


def test_version_addressed_under_another_model_is_404(api, unique):
    owner, other = _model_id(api, unique), _model_id(api, unique)
    version = api.post(f"/v1/models/{owner}/versions", json={"version": "1"}).json()
    assert api.get(f"/v1/models/{other}/versions/{version['id']}").status_code == 404
    assert api.delete(f"/v1/models/{other}/versions/{version['id']}").status_code == 404
    assert api.get(f"/v1/models/{owner}/versions/{version['id']}").status_code == 200


def test_delete_version(api, unique):
    model_id = _model_id(api, unique)
    version = api.post(f"/v1/models/{model_id}/versions", json={"version": "1"}).json()
    url = f"/v1/models/{model_id}/versions/{version['id']}"
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404
    assert api.delete(url).status_code == 404
