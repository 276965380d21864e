"""The proxy's hop to its workers, against small real socket servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from jfml_tracking.server.serving._upstream import WorkerGone, WorkerPool

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _serve(handler: Handler) -> tuple[asyncio.AbstractServer, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    return await reader.readexactly(length)


def test_keep_alive_chunked_and_a_stale_connection() -> None:
    connections = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        body = await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
        body = await _read_request(reader)
        writer.write(b"HTTP/1.1 400 Bad\r\ntransfer-encoding: chunked\r\n\r\n3\r\nbad\r\n0\r\n\r\n")
        await writer.drain()
        writer.close()  # the next request on this connection finds it stale

    async def scenario() -> None:
        server, port = await _serve(handler)
        pool = WorkerPool()
        first = await pool.post(port, b'{"a": 1}', {"content-type": "application/json"}, timeout=5)
        assert (first.status, first.content) == (200, b'{"a": 1}')
        second = await pool.post(port, b"x", {}, timeout=5)
        assert (second.status, second.content) == (400, b"bad")
        assert len(connections) == 1  # the first connection was kept alive
        third = await pool.post(port, b"again", {}, timeout=5)
        assert third.content == b"again" and len(connections) == 2  # retried on a fresh one
        pool.close()
        server.close()

    asyncio.run(scenario())


def test_a_dead_worker_and_a_slow_one() -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(5)

    async def scenario() -> None:
        server, port = await _serve(slow)
        pool = WorkerPool()
        with pytest.raises(TimeoutError):
            await pool.post(port, b"x", {}, timeout=0.3)
        server.close()
        await server.wait_closed()
        with pytest.raises(WorkerGone):
            await pool.post(port, b"x", {}, timeout=1)

    asyncio.run(scenario())
