"""The same server on PostgreSQL (``--db postgresql+psycopg://...``)."""

from __future__ import annotations

import httpx
import pytest

from tests.server.test_durability import THREADS, _check_everything_is_there, _hammer
from tests.support.servers import api_client, start_server_process

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_models_versions_and_conflicts_on_postgres(postgres_cluster, server_factory):
    server = server_factory(db_url=postgres_cluster.create_database())
    with api_client(server) as api:
        model = api.post("/v1/models", json={"name": "pg", "tags": ["a"]}).json()
        assert api.post("/v1/models", json={"name": "pg"}).status_code == 409
        base = f"/v1/models/{model['id']}"
        assert (
            api.post(f"{base}/versions", json={"version": "1", "metrics": {"a": 1}}).status_code
            == 201
        )
        assert api.post(f"{base}/versions", json={"version": "1"}).status_code == 409
        got = api.get(base).json()
        assert (got["versions_count"], got["latest_version"], got["tags"]) == (1, "1", ["a"])
        # PostgreSQL refuses NUL in text: a 400, not a 500.
        assert api.post("/v1/models", json={"name": "nul\x00"}).status_code == 400
        assert api.delete(base).status_code == 204
        assert api.get("/v1/models").json()["total_count"] == 0


def test_concurrent_clients_on_postgres(postgres_cluster, server_factory):
    server = server_factory(db_url=postgres_cluster.create_database())
    per_thread = 4
    ids, wins = _hammer([server.api_url], per_thread)
    assert len(ids) == THREADS * per_thread
    assert wins == {f"shared-{i}": 1 for i in range(per_thread)}
    with api_client(server) as api:
        _check_everything_is_there(api, ids, per_thread)


def test_cli_server_on_postgres_keeps_data_across_restarts(postgres_cluster, tmp_path):
    db_url = postgres_cluster.create_database()
    headers = {"Authorization": "Bearer test-token"}
    with start_server_process(tmp_path=tmp_path, db_url=db_url) as proc:
        created = httpx.post(proc.api_url + "/v1/models", json={"name": "kept"}, headers=headers)
        assert created.status_code == 201
        assert "postgresql+psycopg://postgres@127.0.0.1" in proc.output()
    with start_server_process(tmp_path=tmp_path, db_url=db_url) as proc:
        got = httpx.get(f"{proc.api_url}/v1/models/{created.json()['id']}", headers=headers)
        assert got.json()["name"] == "kept"
