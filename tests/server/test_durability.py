"""Nothing lost, nothing duplicated: WAL, concurrent clients, two processes on one file."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.servers import api_client, start_server_process

THREADS = 8


def _hammer(api_urls: list[str], per_thread: int) -> tuple[list[str], dict[str, int]]:
    """8 threads, each creating its own models plus racing for shared names and versions.

    Returns the ids of the models each thread created and, per contested name, how many
    creates succeeded.
    """
    headers = {"Authorization": "Bearer test-token"}

    def worker(index: int) -> tuple[list[str], list[str]]:
        base = api_urls[index % len(api_urls)]
        created, won = [], []
        with httpx.Client(base_url=base, headers=headers, timeout=60) as api:
            for i in range(per_thread):
                answer = api.post("/v1/models", json={"name": f"t{index}-m{i}"})
                assert answer.status_code == 201, answer.text
                created.append(answer.json()["id"])
                version = api.post(f"/v1/models/{created[-1]}/versions", json={"version": "1"})
                assert version.status_code == 201, version.text
                assert (
                    api.post(
                        "/v1/experiments", json={"name": "r", "model_id": created[-1]}
                    ).status_code
                    == 201
                )
                contested = api.post("/v1/models", json={"name": f"shared-{i}"})
                assert contested.status_code in (201, 409), contested.text
                if contested.status_code == 201:
                    won.append(f"shared-{i}")
                else:  # the loser learns who won, even when it lost a race at the database
                    assert contested.json()["error"]["details"]["existing_id"].startswith("mdl_")
        return created, won

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(worker, range(THREADS)))
    ids = [model_id for created, _ in results for model_id in created]
    wins: dict[str, int] = {}
    for _, won in results:
        for name in won:
            wins[name] = wins.get(name, 0) + 1
    return ids, wins


def _check_everything_is_there(api: httpx.Client, ids: list[str], per_thread: int) -> None:
    models = api.get("/v1/models", params={"limit": 1000}).json()
    names = [m["name"] for m in models["models"]]
    assert models["total_count"] == len(ids) + per_thread == len(names)
    assert len(set(names)) == len(names)
    assert {m["id"] for m in models["models"]} >= set(ids)
    experiments = api.get("/v1/experiments", params={"limit": 1000}).json()
    assert experiments["total_count"] == len(ids)
    for model in models["models"]:
        if not model["name"].startswith("shared-"):
            assert model["versions_count"] == 1


def test_sqlite_runs_in_wal_mode(jfml_server):
    path = jfml_server.db_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_eight_concurrent_clients_lose_nothing_and_duplicate_nothing(server_factory):
    server = server_factory()
    per_thread = 6
    ids, wins = _hammer([server.api_url], per_thread)
    assert len(ids) == THREADS * per_thread
    assert wins == {f"shared-{i}": 1 for i in range(per_thread)}
    with api_client(server) as api:
        _check_everything_is_there(api, ids, per_thread)


@pytest.mark.slow
def test_two_server_processes_on_one_sqlite_file(tmp_path: Path):
    db_url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = start_server_process(tmp_path=tmp_path, db_url=db_url)
    second = start_server_process(tmp_path=tmp_path, db_url=db_url)
    try:
        per_thread = 5
        ids, wins = _hammer([first.api_url, second.api_url], per_thread)
        assert len(ids) == THREADS * per_thread
        assert wins == {f"shared-{i}": 1 for i in range(per_thread)}
        for server in (first, second):
            with api_client(server) as api:
                _check_everything_is_there(api, ids, per_thread)
    finally:
        assert first.stop() == 0
        assert second.stop() == 0
    again = start_server_process(tmp_path=tmp_path, db_url=db_url)
    try:
        with api_client(again) as api:
            _check_everything_is_there(api, ids, per_thread)
    finally:
        again.stop()
