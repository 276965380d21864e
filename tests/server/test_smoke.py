import httpx


def test_health_needs_no_auth_and_api_needs_it(jfml_server):
    assert httpx.get(jfml_server.url + "/health").json() == {"status": "ok"}
    answer = httpx.get(jfml_server.api_url + "/v1/models")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"


def test_subprocess_server_answers(tmp_path):
    from tests.support.servers import start_server_process

    with start_server_process(tmp_path=tmp_path) as proc:
        headers = {"Authorization": f"Bearer {proc.token}"}
        created = httpx.post(proc.api_url + "/v1/models", json={"name": "m"}, headers=headers)
        assert created.status_code == 201
        assert proc.url in proc.output()
        assert "test-token" not in proc.output()
    assert proc.proc.returncode == 0
