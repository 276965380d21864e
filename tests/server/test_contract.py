"""The server against the contract: schemathesis over all 17 operations of the shared spec.

The spec documents only success codes, so the checks are the ones that make sense for it:
no 5xx (``not_a_server_error``), documented responses match their schema
(``response_schema_conformance``) and content type (``content_type_conformance``). Undocumented
codes (404, 409, 422...) are expected for random ids and bodies; ``status_code_conformance``
would flag every one of them, so it is left out; their shape is tested in test_errors.py.

Each generated case is sent twice: as generated, and with its path ids replaced by ids of real
entities (fresh ones for DELETE), so that GET/PUT/DELETE also reach their success paths.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from jfml_tracking.server.runtime import ImmediateRuntime

SPEC = Path(__file__).resolve().parents[3] / "shared" / "spec" / "jfrog-ml-openapi.yaml"
pytestmark = pytest.mark.slow
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def contract_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from jfml_tracking.server.embedded import start_server

    db = tmp_path_factory.mktemp("contract") / "server.db"
    server = start_server(db_url=f"sqlite:///{db}", runtime=ImmediateRuntime())
    yield server
    server.stop()


if not SPEC.exists():
    pytest.skip(
        f"contract spec not found at {SPEC} (expected ../shared/spec beside the repo)",
        allow_module_level=True,
    )
schema = schemathesis.openapi.from_path(str(SPEC))


def _seed(client: httpx.Client) -> dict[str, str]:
    """A model with a version, an experiment and an active deployment, to address by id."""
    model = client.post("/v1/models", json={"name": f"seed-{uuid.uuid4().hex}"}).json()
    version = client.post(f"/v1/models/{model['id']}/versions", json={"version": "1"}).json()
    experiment = client.post("/v1/experiments", json={"name": "e", "model_id": model["id"]}).json()
    deployment = client.post(
        "/v1/deployments",
        json={
            "name": f"d-{model['id']}",
            "model_id": model["id"],
            "model_version_id": version["id"],
        },
    ).json()
    return {
        "modelId": model["id"],
        "versionId": version["id"],
        "experimentId": experiment["id"],
        "deploymentId": deployment["id"],
    }


@pytest.fixture(scope="module")
def shared_ids(contract_server: Any) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {contract_server.token}"}
    with httpx.Client(base_url=contract_server.api_url, headers=headers) as client:
        return _seed(client)


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_conforms(
    case: Any, contract_server: Any, shared_ids: dict[str, str]
) -> None:
    headers = {"Authorization": f"Bearer {contract_server.token}"}
    case.call_and_validate(base_url=contract_server.api_url, headers=headers, checks=CHECKS)
    if case.path_parameters:
        ids = shared_ids
        if case.method.upper() in ("DELETE", "PUT"):
            with httpx.Client(base_url=contract_server.api_url, headers=headers) as client:
                ids = _seed(client)
        case.path_parameters = {k: ids.get(k, v) for k, v in case.path_parameters.items()}
        case.call_and_validate(base_url=contract_server.api_url, headers=headers, checks=CHECKS)


def test_served_openapi_has_the_contract_operations(jfml_server: Any) -> None:
    import yaml

    contract = yaml.safe_load(SPEC.read_text())
    served = httpx.get(
        jfml_server.api_url + "/openapi.json",
        headers={"Authorization": f"Bearer {jfml_server.token}"},
    ).json()

    def operations(doc: dict[str, Any]) -> set[tuple[str, str, str]]:
        return {
            (method, path, op["operationId"])
            for path, ops in doc["paths"].items()
            for method, op in ops.items()
            if method in {"get", "post", "put", "delete", "patch"}
        }

    assert operations(served) == operations(contract)
    assert len(operations(served)) == 17
    assert served["servers"] == [{"url": "/ml/api"}]
