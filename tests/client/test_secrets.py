"""Secrets never appear in reprs, exceptions, logs or debug output."""

from __future__ import annotations

import base64
import logging
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from jfml_tracking.client import JFrogMLClient, JFrogMLError, RetryPolicy
from jfml_tracking.config import RedactingFilter, Secret, redact, resolve_settings
from tests.support.fault_proxy import DropAfterForward, FaultProxy, Respond

SECRET = "sup3r-s3cret-t0ken-value-9876"


def test_secret_masks_itself() -> None:
    secret = Secret(SECRET)
    shown_forms = [repr(secret), str(secret), f"{secret}", f"{secret!r:>40}", format(secret, "")]
    for shown in shown_forms:
        assert SECRET not in shown
    assert secret.get_secret_value() == SECRET
    assert secret.hint() == "...9876"
    assert Secret("short").hint() == "********"


@pytest.mark.parametrize("kind", ["token", "basic", "token-file"])
def test_settings_survive_pickling_for_spawned_workers(kind: str, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(SECRET)
    env = {
        "token": {"JF_ACCESS_TOKEN": SECRET},
        "basic": {"JF_USER": "joe", "JF_PASSWORD": SECRET},
        "token-file": {"JF_ACCESS_TOKEN_FILE": str(token_file)},
    }[kind]
    settings = resolve_settings("jfml://acme", env={"HOME": str(tmp_path), **env})
    copy = pickle.loads(pickle.dumps(settings))
    assert copy == settings and copy.secret == settings.secret
    assert SECRET not in repr(copy)
    request = next(copy.auth.auth_flow(httpx.Request("GET", "https://acme.jfrog.io")))
    assert request.headers["Authorization"].endswith(
        SECRET if kind != "basic" else base64.b64encode(f"joe:{SECRET}".encode()).decode()
    )


def test_settings_and_client_reprs_hold_no_secret() -> None:
    settings = resolve_settings("jfml://acme", env={"JF_ACCESS_TOKEN": SECRET, "HOME": "/nowhere"})
    basic = resolve_settings("jfml://acme", user="joe", password=SECRET, env={"HOME": "/nowhere"})
    with JFrogMLClient(settings) as client:
        texts = [repr(settings), str(settings), repr(settings.auth), repr(basic), repr(client)]
    assert all(SECRET not in text for text in texts)
    assert settings.token_hint == "...9876"


def test_redact_masks_known_secrets_and_credential_shapes() -> None:
    keep = Secret(SECRET)
    text = redact(
        f"token {SECRET}; Authorization: Bearer eyJhbGci0iJ.eyJzdWIi.c2lnbmF0dXJl; "
        'headers={"authorization": "Basic am9lOnB3"}; access_token=xyz123456; '
        "https://joe:pw1234@host/x"
    )
    assert (
        SECRET not in text
        and "eyJhbGci0iJ.eyJzdWIi.c2lnbmF0dXJl" not in text
        and "am9lOnB3" not in text
    )
    assert "xyz123456" not in text and "pw1234" not in text
    assert keep
    prose = "send 'Authorization: Bearer <token>' or basic credentials; password=<your password>"
    assert redact(prose) == prose


def test_redacting_filter_cleans_records(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test.redaction")
    caplog.handler.addFilter(RedactingFilter())
    keep = Secret(SECRET)
    with caplog.at_level(logging.DEBUG, logger="test.redaction"):
        log.debug("sending Authorization: Bearer %s", SECRET)
    assert SECRET not in caplog.text and "Authorization" in caplog.text
    assert keep


def test_no_secret_in_debug_logs_or_errors_of_a_faulty_session(
    jfml_server: Any, caplog: pytest.LogCaptureFixture, make_client: Callable[..., JFrogMLClient]
) -> None:
    """Every logger at DEBUG (httpx, httpcore, ours) through retries, reconciliation, 401s."""
    errors: list[str] = []
    with caplog.at_level(logging.DEBUG), FaultProxy(jfml_server.url) as proxy:
        good = make_client(proxy.url, jfml_server.token)
        bad = make_client(proxy.url, SECRET, retry=RetryPolicy(max_attempts=2, backoff_base=0.01))
        proxy.script([Respond(503), DropAfterForward()])
        good.create_model(name="secret-session")
        for call in (lambda: bad.list_models(), lambda: bad.create_model(name="x")):
            try:
                call()
            except JFrogMLError as exc:
                errors += [str(exc), repr(exc), str(exc.__cause__)]
        proxy.set_default(Respond(503))
        try:
            bad.get_model("m")
        except JFrogMLError as exc:
            errors += [str(exc), repr(exc)]
    assert caplog.records, "expected DEBUG records"
    assert len(errors) == 8
    for text in [caplog.text, *errors]:
        assert SECRET not in text and jfml_server.token not in text
