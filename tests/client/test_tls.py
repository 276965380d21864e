"""TLS is verified; a custom CA comes from JFML_CA_BUNDLE / SSL_CERT_FILE / REQUESTS_CA_BUNDLE."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jfml_tracking.client import ConnectionFailed, JFrogMLClient, RetryPolicy
from tests.client._tls import PKI, make_pki
from tests.support.fault_proxy import FaultProxy

ONE_TRY = RetryPolicy(max_attempts=1)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls_proxy(jfml_server: Any, pki: PKI) -> Iterator[FaultProxy]:
    with FaultProxy(jfml_server.url, ssl_context=pki.server_context) as proxy:
        yield proxy


@pytest.mark.parametrize("variable", ["JFML_CA_BUNDLE", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
def test_custom_ca_bundle_is_trusted(
    tls_proxy: FaultProxy, jfml_server: Any, pki: PKI, variable: str, tmp_path: Path
) -> None:
    env = {"HOME": str(tmp_path), variable: str(pki.ca_file), "JF_ACCESS_TOKEN": jfml_server.token}
    uri = "jfml+https://" + tls_proxy.url.removeprefix("https://")
    with JFrogMLClient.from_tracking_uri(uri, env=env, retry=ONE_TRY) as client:
        assert client.list_models(limit=1).total_count is not None


def test_untrusted_certificate_is_refused(
    tls_proxy: FaultProxy, jfml_server: Any, tmp_path: Path
) -> None:
    env = {"HOME": str(tmp_path), "JF_ACCESS_TOKEN": jfml_server.token}
    with (
        JFrogMLClient(platform_url=tls_proxy.url, env=env, retry=ONE_TRY) as client,
        pytest.raises(ConnectionFailed, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        client.list_models()
    assert tls_proxy.seen == 0  # nothing was sent over the untrusted connection
