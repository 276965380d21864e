"""Client overhead: requests/s of ``get_model`` and ``create_model`` through ``JFrogMLClient``
against raw ``httpx.Client`` calls to the same in-process reference server, in the same run.

The raw side only decodes JSON (no schema validation), so the ratio charges the client for
everything it adds: auth, the retry loop, error mapping and pydantic parsing.
Calls alternate one by one (client, raw, raw, client, ...) and each side's figure is the
inverse of its median latency, so that load from other processes hits both sides alike.
Target: the client keeps >= 90% of raw httpx's throughput.
"""

from __future__ import annotations

import itertools
import json
import statistics
import tempfile
import time
from collections.abc import Callable

import httpx
from _harness import Row

from jfml_tracking.client import JFrogMLClient
from jfml_tracking.server.embedded import start_server

CALLS = 800


def _interleaved_rates(
    ours: Callable[[], object], peer: Callable[[], object]
) -> tuple[float, float]:
    """Calls per second of each side from the median latency of ``CALLS`` calls, alternating
    ours and peer call by call (and which goes first), so that load from other processes on
    this shared machine hits both sides alike."""
    for _ in range(20):  # warm up connections and code paths
        ours(), peer()
    ours_s: list[float] = []
    peer_s: list[float] = []
    for i in range(CALLS):
        pair = [(ours, ours_s), (peer, peer_s)]
        for fn, out in pair if i % 2 else reversed(pair):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return 1 / statistics.median(ours_s), 1 / statistics.median(peer_s)


def run() -> list[Row]:
    with tempfile.TemporaryDirectory() as home, start_server(home=home) as server:
        headers = {"Authorization": f"Bearer {server.token}", "Accept": "application/json"}
        with (
            JFrogMLClient(platform_url=server.url, token=server.token, env={}) as client,
            httpx.Client(base_url=server.api_url, headers=headers) as raw,
        ):
            model_id = client.create_model(name="bench-get").id
            counter = itertools.count()

            def raw_get() -> object:
                response = raw.get(f"/v1/models/{model_id}")
                response.raise_for_status()
                return response.json()

            def raw_create() -> object:
                body = json.dumps({"name": f"raw-{next(counter)}"})
                response = raw.post(
                    "/v1/models", content=body, headers={"Content-Type": "application/json"}
                )
                response.raise_for_status()
                return response.json()

            get_ours, get_raw = _interleaved_rates(lambda: client.get_model(model_id), raw_get)
            create_ours, create_raw = _interleaved_rates(
                lambda: client.create_model(name=f"ours-{next(counter)}"), raw_create
            )
    peer = "raw httpx.Client"
    return [
        Row("client", "get_model (req/s)", get_ours, peer, get_raw, ">= 0.9x", "req/s"),
        Row("client", "create_model (req/s)", create_ours, peer, create_raw, ">= 0.9x", "req/s"),
    ]


if __name__ == "__main__":
    for row in run():
        print(f"{row.measure}: client {row.ours:.0f}, raw {row.peer:.0f}, ratio {row.ratio:.2f}")
