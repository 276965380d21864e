"""Retries, their bounds, and POST reconciliation, with faults injected over real sockets."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from jfml_tracking.client import (
    ConnectionFailed,
    JFrogMLClient,
    NotFound,
    RateLimited,
    RetryPolicy,
    ServerError,
)
from tests.support.fault_proxy import (
    Delay,
    DelayResponse,
    DropAfterForward,
    DropBeforeForward,
    FaultProxy,
    Pass,
    Respond,
)

Unique = Callable[[str], str]
MakeClient = Callable[..., JFrogMLClient]
EMPTY_MODEL_LIST = b'{"models": [], "total_count": 0}'


@pytest.fixture
def proxy(jfml_server: Any) -> Iterator[FaultProxy]:
    with FaultProxy(jfml_server.url) as p:
        yield p


@pytest.fixture
def faulty(proxy: FaultProxy, jfml_server: Any, make_client: MakeClient) -> JFrogMLClient:
    """A client that reaches the shared server through the fault proxy."""
    return make_client(proxy.url, jfml_server.token, timeout=2.0)


def models_named(client: JFrogMLClient, name: str) -> int:
    return sum(1 for m in client.iter_models() if m.name == name)


@pytest.mark.parametrize(
    "fault",
    [
        Respond(503),
        Respond(502),
        Respond(504),
        Respond(429),
        DropBeforeForward(),
        DropAfterForward(),
    ],
    ids=["503", "502", "504", "429", "drop-before", "drop-after"],
)
def test_get_is_retried_through_transient_faults(
    faulty: JFrogMLClient, proxy: FaultProxy, client: JFrogMLClient, unique: Unique, fault: Any
) -> None:
    model = client.create_model(name=unique("get-retry"))
    proxy.script([fault, fault])
    assert faulty.get_model(model.id) == client.get_model(model.id)
    assert proxy.count("GET") == 3


def test_get_is_retried_after_a_read_timeout(
    proxy: FaultProxy,
    jfml_server: Any,
    make_client: MakeClient,
    client: JFrogMLClient,
    unique: Unique,
) -> None:
    model = client.create_model(name=unique("slow"))
    impatient = make_client(proxy.url, jfml_server.token, timeout=1.0)
    proxy.script([DelayResponse(2.5)])
    assert impatient.get_model(model.id).id == model.id
    assert proxy.count("GET") >= 2


def test_put_and_delete_are_retried(
    faulty: JFrogMLClient, proxy: FaultProxy, client: JFrogMLClient, unique: Unique
) -> None:
    name = unique("put")
    model = client.create_model(name=name)
    proxy.script([DropAfterForward()], when="PUT")
    assert faulty.update_model(model.id, name=name, description="x").description == "x"
    proxy.script([DropBeforeForward()], when="DELETE")
    faulty.delete_model(model.id)
    assert proxy.count("PUT") == 2 and proxy.count("DELETE") == 2
    assert client.find_model_by_name(name) is None


def test_delete_whose_answer_was_lost_is_not_reported_as_not_found(
    faulty: JFrogMLClient, proxy: FaultProxy, client: JFrogMLClient, unique: Unique
) -> None:
    name = unique("lost-delete")
    model = client.create_model(name=name)
    proxy.script([DropAfterForward()], when="DELETE")  # deleted, but the answer is lost
    faulty.delete_model(model.id)  # the retry's 404 means the first attempt worked
    assert proxy.count("DELETE") == 2
    assert client.find_model_by_name(name) is None
    with pytest.raises(NotFound):
        faulty.delete_model(model.id)  # a clean 404 is still an error


def test_retry_after_is_honoured(faulty: JFrogMLClient, proxy: FaultProxy) -> None:
    proxy.script([Respond(429, retry_after="0.6")])
    began = time.monotonic()
    faulty.list_models(limit=1)
    assert time.monotonic() - began >= 0.6
    assert proxy.count("GET") == 2


def test_client_gives_up_within_its_time_bound(
    proxy: FaultProxy, jfml_server: Any, make_client: MakeClient
) -> None:
    policy = RetryPolicy(
        max_attempts=1000, max_total_seconds=1.0, backoff_base=0.05, backoff_max=0.2
    )
    bounded = make_client(proxy.url, jfml_server.token, retry=policy)
    proxy.set_default(Respond(503))
    began = time.monotonic()
    with pytest.raises(ServerError) as info:
        bounded.list_models()
    elapsed = time.monotonic() - began
    # Slack for a loaded CI machine; unbounded, 1000 attempts would take well over a minute.
    assert elapsed <= 2.0, f"gave up after {elapsed:.2f} s, bound 1.0 s"
    assert proxy.count("GET") > 2
    assert info.value.status_code == 503 and "gave up after" in str(info.value)


def test_client_gives_up_within_its_time_bound_on_a_silent_server(
    proxy: FaultProxy, jfml_server: Any, make_client: MakeClient
) -> None:
    # Each attempt's timeout is cut to what is left of the budget.
    policy = RetryPolicy(max_attempts=5, max_total_seconds=1.0, backoff_base=0.05)
    bounded = make_client(proxy.url, jfml_server.token, retry=policy, timeout=30.0)
    proxy.set_default(DelayResponse(5.0))
    began = time.monotonic()
    with pytest.raises(ConnectionFailed) as info:
        bounded.list_models()
    assert time.monotonic() - began <= 2.5  # unbounded: 5 attempts x 5 s
    assert info.value.timed_out


def test_client_gives_up_after_max_attempts(
    proxy: FaultProxy, jfml_server: Any, make_client: MakeClient
) -> None:
    bounded = make_client(
        proxy.url, jfml_server.token, retry=RetryPolicy(max_attempts=3, backoff_base=0.01)
    )
    proxy.set_default(Respond(429, retry_after="0"))
    with pytest.raises(RateLimited) as info:
        bounded.list_models()
    assert proxy.count("GET") == 3
    assert info.value.retry_after == 0.0


def test_connection_refused_is_retried_until_the_server_listens_again(
    proxy: FaultProxy,
    jfml_server: Any,
    make_client: MakeClient,
    client: JFrogMLClient,
    unique: Unique,
) -> None:
    patient = make_client(
        proxy.url,
        jfml_server.token,
        retry=RetryPolicy(
            max_attempts=50, max_total_seconds=10, backoff_base=0.05, backoff_max=0.1
        ),
    )
    name = unique("refused")
    proxy.set_listening(False)
    timer = threading.Timer(0.5, proxy.set_listening, args=(True,))
    timer.start()
    try:
        model = patient.create_model(name=name)
    finally:
        timer.join()
    # Refused connections never reached anything: the POST is simply resent, no lookup.
    assert [r.method for r in proxy.log] == ["POST"]
    assert client.find_model_by_name(name) == model


def test_connection_refused_gives_up_within_bound_with_a_hint(
    proxy: FaultProxy, jfml_server: Any, make_client: MakeClient
) -> None:
    bounded = make_client(
        proxy.url,
        jfml_server.token,
        retry=RetryPolicy(
            max_attempts=100, max_total_seconds=0.8, backoff_base=0.05, backoff_max=0.1
        ),
    )
    proxy.set_listening(False)
    began = time.monotonic()
    with pytest.raises(ConnectionFailed) as info:
        bounded.list_models()
    assert time.monotonic() - began <= 2.0
    assert "jfml doctor" in str(info.value) and not info.value.timed_out
    assert info.value.__cause__ is not None


# --- POST: resend only what never reached the server; reconcile the rest ---------------------


@pytest.mark.parametrize("fault", [Respond(503), Respond(429, retry_after="0")], ids=["503", "429"])
def test_post_answered_not_processed_is_resent_without_lookup(
    faulty: JFrogMLClient, proxy: FaultProxy, client: JFrogMLClient, unique: Unique, fault: Any
) -> None:
    name = unique("resent")
    proxy.script([fault], when="POST")
    model = faulty.create_model(name=name)
    assert [r.method for r in proxy.log] == ["POST", "POST"]
    assert models_named(client, name) == 1 and client.get_model(model.id).name == name


def test_post_dropped_after_forwarding_is_reconciled_not_resent(
    faulty: JFrogMLClient, proxy: FaultProxy, client: JFrogMLClient, unique: Unique
) -> None:
    name = unique("ambiguous")
    proxy.script([DropAfterForward()], when="POST")
    model = faulty.create_model(name=name)
    assert proxy.count("POST") == 1  # found by the lookup, never sent twice
    assert models_named(client, name) == 1 and client.find_model_by_name(name) == model


def test_post_dropped_before_forwarding_is_looked_up_then_resent_once(
    faulty: JFrogMLClient, proxy: FaultProxy, client: JFrogMLClient, unique: Unique
) -> None:
    name = unique("dropped")
    proxy.script([DropBeforeForward()], when="POST")
    faulty.create_model(name=name)
    assert [r.method for r in proxy.log] == ["POST", "GET", "POST"]
    assert models_named(client, name) == 1


def test_post_answered_with_502_is_reconciled(
    faulty: JFrogMLClient, proxy: FaultProxy, client: JFrogMLClient, unique: Unique
) -> None:
    name = unique("gateway")
    proxy.script([Respond(502)], when="POST")
    faulty.create_model(name=name)
    assert [r.method for r in proxy.log] == ["POST", "GET", "POST"]
    assert models_named(client, name) == 1


def test_post_timing_out_makes_exactly_one_experiment(
    proxy: FaultProxy,
    jfml_server: Any,
    make_client: MakeClient,
    client: JFrogMLClient,
    unique: Unique,
) -> None:
    model = client.create_model(name=unique("exp-owner"))
    impatient = make_client(proxy.url, jfml_server.token, timeout=1.0)
    proxy.script([DelayResponse(2.5)], when="POST")
    exp = impatient.create_experiment(name="run", model_id=model.id, parameters={"seed": "1"})
    assert proxy.count("POST") == 1
    assert [e.id for e in client.iter_experiments(model.id)] == [exp.id]


def test_post_timing_out_makes_exactly_one_model_version(
    proxy: FaultProxy,
    jfml_server: Any,
    make_client: MakeClient,
    client: JFrogMLClient,
    unique: Unique,
) -> None:
    model = client.create_model(name=unique("ver-owner"))
    impatient = make_client(proxy.url, jfml_server.token, timeout=1.0)
    proxy.script([DelayResponse(2.5)], when="POST")
    version = impatient.create_model_version(model.id, version="7")
    assert proxy.count("POST") == 1
    assert [v.id for v in client.iter_model_versions(model.id)] == [version.id]


def test_post_dropped_makes_exactly_one_deployment(
    faulty: JFrogMLClient, proxy: FaultProxy, client: JFrogMLClient, unique: Unique
) -> None:
    model = client.create_model(name=unique("dep-owner"))
    version = client.create_model_version(model.id, version="1")
    name = unique("dep")
    proxy.script([DropAfterForward()], when="POST")
    dep = faulty.create_deployment(name=name, model_id=model.id, model_version_id=version.id)
    assert proxy.count("POST") == 1
    assert [d.id for d in client.iter_deployments() if d.name == name] == [dep.id]
    client.delete_deployment(dep.id)


def test_conflict_after_an_ambiguous_attempt_resolves_to_the_existing_entity(
    faulty: JFrogMLClient, proxy: FaultProxy, client: JFrogMLClient, unique: Unique
) -> None:
    name = unique("late")
    # The first POST is processed but its answer lost; the lookup is answered by a stale cache
    # (an empty list), so the client resends and the server says 409.
    proxy.script([DropAfterForward()], when="POST")
    proxy.script([Respond(200, body=EMPTY_MODEL_LIST)], when="GET")
    model = faulty.create_model(name=name)
    assert [r.method for r in proxy.log] == ["POST", "GET", "POST", "GET"]
    assert models_named(client, name) == 1 and client.find_model_by_name(name) == model


def test_ambiguous_post_that_cannot_be_checked_fails_and_says_so(
    proxy: FaultProxy,
    jfml_server: Any,
    make_client: MakeClient,
    client: JFrogMLClient,
    unique: Unique,
) -> None:
    bounded = make_client(
        proxy.url,
        jfml_server.token,
        retry=RetryPolicy(
            max_attempts=3, max_total_seconds=1.0, backoff_base=0.01, backoff_max=0.05
        ),
    )
    name = unique("unchecked")
    proxy.script([DropBeforeForward()], when="POST")
    proxy.set_default(Respond(503))  # every lookup fails
    with pytest.raises(ConnectionFailed) as info:
        bounded.create_model(name=name)
    assert info.value.maybe_processed
    assert proxy.count("POST") == 1  # never resent blind
    proxy.set_default(Pass())
    assert models_named(client, name) == 0


def test_delayed_request_still_succeeds_within_timeout(
    faulty: JFrogMLClient, proxy: FaultProxy, unique: Unique
) -> None:
    proxy.script([Delay(0.3)])
    assert faulty.create_model(name=unique("delayed")).id
    assert proxy.count("POST") == 1


def test_post_of_an_old_run_is_reconciled_by_its_created_at(
    proxy: FaultProxy,
    jfml_server: Any,
    make_client: MakeClient,
    client: JFrogMLClient,
    unique: Unique,
) -> None:
    from datetime import datetime, timedelta, timezone

    model = client.create_model(name=unique("old-run"))
    started = datetime.now(timezone.utc) - timedelta(hours=3)  # replayed by `jfml sync` later
    impatient = make_client(proxy.url, jfml_server.token, timeout=1.0)
    proxy.script([DelayResponse(2.5)], when="POST")
    exp = impatient.create_experiment(name="run", model_id=model.id, created_at=started)
    assert proxy.count("POST") == 1
    assert [e.id for e in client.iter_experiments(model.id)] == [exp.id]
    assert exp.created_at == started


def test_ambiguous_post_on_the_last_attempt_is_still_reconciled(
    proxy: FaultProxy,
    jfml_server: Any,
    make_client: MakeClient,
    client: JFrogMLClient,
    unique: Unique,
) -> None:
    single = make_client(proxy.url, jfml_server.token, retry=RetryPolicy(max_attempts=1))
    name = unique("last-try")
    proxy.script([DropAfterForward()], when="POST")
    model = single.create_model(name=name)  # no retry left, but the lookup finds it
    assert [r.method for r in proxy.log] == ["POST", "GET"]
    assert models_named(client, name) == 1 and client.get_model(model.id).name == name


def test_retry_after_beyond_the_budget_gives_up_at_once_with_the_hint(
    proxy: FaultProxy, jfml_server: Any, make_client: MakeClient
) -> None:
    bounded = make_client(
        proxy.url, jfml_server.token, retry=RetryPolicy(max_attempts=10, max_total_seconds=2.0)
    )
    proxy.script([Respond(429, retry_after="30")])
    began = time.monotonic()
    with pytest.raises(RateLimited) as info:
        bounded.list_models()
    assert time.monotonic() - began < 1.5  # no pointless 30 s wait past the 2 s budget
    assert info.value.retry_after == 30.0 and proxy.count("GET") == 1


def test_posts_that_keep_getting_lost_give_up_marked_maybe_processed(
    proxy: FaultProxy,
    jfml_server: Any,
    make_client: MakeClient,
    client: JFrogMLClient,
    unique: Unique,
) -> None:
    bounded = make_client(
        proxy.url,
        jfml_server.token,
        retry=RetryPolicy(max_attempts=3, max_total_seconds=5, backoff_base=0.01),
    )
    name = unique("always-lost")
    proxy.script([DropBeforeForward()] * 3, when="POST")  # lookups pass and find nothing
    with pytest.raises(ConnectionFailed) as info:
        bounded.create_model(name=name)
    assert info.value.maybe_processed and "gave up after 3 attempts" in str(info.value)
    assert [r.method for r in proxy.log] == ["POST", "GET", "POST", "GET", "POST", "GET"]
    assert models_named(client, name) == 0
