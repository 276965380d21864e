"""A minimal HTTP/1.1 client for the proxy's hop to its own workers on 127.0.0.1.

The workers are MLflow scoring servers this runtime started; every answer carries
``content-length`` (or, defensively, chunked encoding). That narrow case lets the proxy skip a
general client's layers (h11 state machines, pools with locks): ~1 ms less per prediction here.
Keep-alive connections are reused for up to ``_IDLE_SECONDS`` (below uvicorn's 5 s keep-alive,
so a worker never closes one under a request); a stale one is retried once on a fresh one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["UpstreamAnswer", "WorkerGone", "WorkerPool"]

_IDLE_SECONDS = 4.0
_MAX_IDLE_PER_PORT = 32
_MAX_HEAD_BYTES = 64 * 1024


class WorkerGone(Exception):
    """The worker did not answer (refused, reset, closed); another worker may."""


@dataclass(frozen=True)
class UpstreamAnswer:
    status: int
    headers: dict[str, str]
    content: bytes


_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter, float]


class WorkerPool:
    """Idle keep-alive connections per worker port. Use it from one event loop only."""

    def __init__(self) -> None:
        self._idle: dict[int, list[_Conn]] = {}

    async def post(
        self, port: int, body: bytes, headers: Mapping[str, str], *, timeout: float
    ) -> UpstreamAnswer:
        """POST ``body`` to ``/invocations``; raises ``WorkerGone`` or ``TimeoutError``."""
        reused = self._take(port)
        if reused is not None:
            try:
                return await self._exchange(port, reused, body, headers, timeout)
            except WorkerGone:
                pass  # the kept connection went stale: one fresh attempt below
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), timeout=min(timeout, 5.0)
            )
        except asyncio.TimeoutError:
            raise WorkerGone("connect timed out") from None
        except OSError as exc:
            raise WorkerGone(str(exc)) from exc
        return await self._exchange(port, (reader, writer, 0.0), body, headers, timeout)

    def _take(self, port: int) -> _Conn | None:
        idle = self._idle.get(port, [])
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if now - conn[2] < _IDLE_SECONDS and not conn[1].is_closing():
                return conn
            conn[1].close()
        return None

    async def _exchange(
        self, port: int, conn: _Conn, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> UpstreamAnswer:
        reader, writer, _ = conn
        head = [f"POST /invocations HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"]
        head += [f"{k}: {v}\r\n" for k, v in headers.items()]
        head.append(f"content-length: {len(body)}\r\n\r\n")
        try:
            writer.write("".join(head).encode("latin-1") + body)
            answer = await asyncio.wait_for(_read_answer(reader), timeout=timeout)
        except asyncio.TimeoutError:  # before OSError: from 3.11 on it is the builtin one
            writer.close()
            raise TimeoutError("the worker did not answer in time") from None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            writer.close()
            raise WorkerGone(str(exc) or type(exc).__name__) from exc
        if answer.headers.get("connection", "").lower() == "close":
            writer.close()
        else:
            idle = self._idle.setdefault(port, [])
            if len(idle) < _MAX_IDLE_PER_PORT:
                idle.append((reader, writer, time.monotonic()))
            else:
                writer.close()
        return answer

    def close(self) -> None:
        for idle in self._idle.values():
            for _reader, writer, _ in idle:
                writer.close()
        self._idle.clear()


async def _read_answer(reader: asyncio.StreamReader) -> UpstreamAnswer:
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > _MAX_HEAD_BYTES:
        raise ValueError("response head too large")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        content = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        content = await _read_chunked(reader)
    else:
        content = await reader.read()  # delimited by close
        headers["connection"] = "close"
    return UpstreamAnswer(status, headers, content)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # no trailers from our workers
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
