from __future__ import annotations

import pytest

from tests.support.servers import api_client


def test_lists_are_ordered_paged_and_counted(server_factory):
    server = server_factory()
    with api_client(server) as api:
        ids = [api.post("/v1/models", json={"name": f"m{i:02}"}).json()["id"] for i in range(12)]
        model_id = ids[0]
        versions = [
            api.post(f"/v1/models/{model_id}/versions", json={"version": str(i)}).json()["id"]
            for i in range(4)
        ]
        first = api.get("/v1/models").json()
        assert first["total_count"] == 12
        assert [m["id"] for m in first["models"]] == ids
        page = api.get("/v1/models", params={"limit": 5, "offset": 5}).json()
        assert [m["id"] for m in page["models"]] == ids[5:10]
        assert page["total_count"] == 12
        past_end = api.get("/v1/models", params={"offset": 100}).json()
        assert past_end == {"models": [], "total_count": 12}
        listed = api.get(f"/v1/models/{model_id}/versions", params={"limit": 2, "offset": 1})
        assert [v["id"] for v in listed.json()["versions"]] == versions[1:3]
        assert listed.json()["total_count"] == 4
        assert api.get("/v1/models", params={"limit": 1000}).status_code == 200


def test_equal_created_at_is_ordered_by_id(server_factory):
    """Rows written in the same instant still have one order: by id."""
    from jfml_tracking.server.db import Database
    from jfml_tracking.server.tables import ModelRow, utcnow

    server = server_factory()
    db = Database(server.db_url)
    now = utcnow()
    ids = ["mdl_b", "mdl_a", "mdl_c"]
    with db.write() as session:
        for model_id in ids:
            session.add(
                ModelRow(id=model_id, name=model_id, tags=[], created_at=now, updated_at=now)
            )
    db.dispose()
    with api_client(server) as api:
        assert [m["id"] for m in api.get("/v1/models").json()["models"]] == sorted(ids)


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"limit": 0}, "limit must be between 1 and 1000"),
        ({"limit": 1001}, "limit must be between 1 and 1000"),
        ({"offset": -1}, "offset must be 0 or more"),
        ({"limit": "ten"}, "query parameter 'limit'"),
        ({"offset": "1.5"}, "query parameter 'offset'"),
    ],
)
def test_bad_paging_is_422_with_a_clear_message(api, params, needle):
    for path in ("/v1/models", "/v1/experiments", "/v1/deployments"):
        answer = api.get(path, params=params)
        assert answer.status_code == 422
        assert needle in answer.json()["error"]["message"]
        assert answer.json()["error"]["code"] == "validation_failed"


def test_deployment_and_experiment_lists_page_too(server_factory):
    from jfml_tracking.server.runtime import ImmediateRuntime

    server = server_factory(runtime=ImmediateRuntime())
    with api_client(server) as api:
        model = api.post("/v1/models", json={"name": "m"}).json()["id"]
        version = api.post(f"/v1/models/{model}/versions", json={"version": "1"}).json()["id"]
        body = {"model_id": model, "model_version_id": version}
        deployments = [
            api.post("/v1/deployments", json={"name": f"d{i}", **body}).json()["id"]
            for i in range(3)
        ]
        experiments = [
            api.post("/v1/experiments", json={"name": f"e{i}"}).json()["id"] for i in range(3)
        ]
        page = api.get("/v1/deployments", params={"limit": 2, "offset": 1}).json()
        assert [d["id"] for d in page["deployments"]] == deployments[1:]
        assert page["total_count"] == 3
        page = api.get("/v1/experiments", params={"limit": 1, "offset": 2}).json()
        assert [e["id"] for e in page["experiments"]] == experiments[2:]
        assert page["total_count"] == 3
