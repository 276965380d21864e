"""A scriptable HTTP fault proxy over real sockets, for tests of retries and reconciliation.

It listens on ``127.0.0.1:0``, parses each HTTP/1.1 request (keep-alive supported) and decides
per request what to do with it::

    from tests.support.fault_proxy import FaultProxy, DropAfterForward, Respond

    with FaultProxy(server.url) as proxy:              # upstream: scheme://host:port
        client = JFrogMLClient(platform_url=proxy.url, token=server.token, env={})
        proxy.script([Respond(503), Respond(429, retry_after="1")])   # next two requests
        proxy.script([DropAfterForward()], when="POST")                # next POST only
        proxy.set_default(Respond(503))                 # every unscripted request
        ...
        assert proxy.count("POST") == 1 and proxy.forwarded == 3

Actions (all frozen dataclasses):

- ``Pass()`` forward the request, relay the answer.
- ``DropBeforeForward()`` close the client connection without forwarding (nothing reached the
  server, but the client cannot know that: it looks like a dropped connection).
- ``DropAfterForward()`` forward, let the server process it, discard the answer, close.
- ``Delay(seconds)`` wait, then forward and relay (the server sees the request late).
- ``DelayResponse(seconds)`` forward at once, hold the answer ``seconds``, then relay it (the
  server has processed it; a client with a shorter timeout gives up: an ambiguous request).
- ``Respond(status, retry_after=None, body=b"")`` answer without forwarding (e.g. 503, 429).

Scripts are queues: each request consumes the first queued action whose ``when`` matches
(``None`` = any request, ``"POST"`` = that method, or a callable ``(method, path) -> bool``);
unmatched requests get the default action (``Pass()`` unless ``set_default`` changed it).
``FaultProxy(upstream_url, ssl_context=ctx)`` serves TLS to the client (for TLS and CA bundle
tests); its ``url`` is then ``https://localhost:<port>``.
``set_listening(False)`` closes the listening socket, so new connections are refused (a real
"connection refused"); ``set_listening(True)`` listens again on the same port.

Counters: ``seen`` (requests received), ``forwarded`` (requests sent upstream),
``connections_accepted``, ``log`` (a list of ``Record(method, path, action)``),
``count(method=None, path_prefix="")``.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import BinaryIO
from urllib.parse import urlsplit

__all__ = [
    "Action",
    "Delay",
    "DelayResponse",
    "DropAfterForward",
    "DropBeforeForward",
    "FaultProxy",
    "Pass",
    "Record",
    "Respond",
]

_MAX_HEAD = 64 * 1024
_REASONS = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass(frozen=True)
class Action:
    """Base of the proxy's per-request actions."""


@dataclass(frozen=True)
class Pass(Action):
    pass


@dataclass(frozen=True)
class DropBeforeForward(Action):
    pass


@dataclass(frozen=True)
class DropAfterForward(Action):
    pass


@dataclass(frozen=True)
class Delay(Action):
    seconds: float


@dataclass(frozen=True)
class DelayResponse(Action):
    seconds: float


@dataclass(frozen=True)
class Respond(Action):
    status: int
    retry_after: str | None = None
    body: bytes = b""


@dataclass(frozen=True)
class Record:
    method: str
    path: str
    action: Action


Matcher = Callable[[str, str], bool]


def _matcher(when: str | Matcher | None) -> Matcher:
    if when is None:
        return lambda method, path: True
    if isinstance(when, str):
        wanted = when.upper()
        return lambda method, path: method == wanted
    return when


@dataclass
class _Request:
    method: str
    path: str
    head_lines: list[bytes]
    body: bytes


def _read_request(reader: BinaryIO) -> _Request | None:
    """One request from the client, or None at EOF / on garbage."""
    request_line = reader.readline(_MAX_HEAD)
    if not request_line.strip():
        return None
    parts = request_line.decode("latin-1").split()
    if len(parts) != 3:
        return None
    lines, length, chunked = [], 0, False
    while True:
        line = reader.readline(_MAX_HEAD)
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
            continue  # forwarded de-chunked, with a Content-Length
        lines.append(line)
    body = _read_chunked(reader) if chunked else (reader.read(length) if length else b"")
    if chunked:
        lines.append(f"Content-Length: {len(body)}\r\n".encode("latin-1"))
    return _Request(parts[0].upper(), parts[1], [request_line, *lines], body)


def _read_chunked(reader: BinaryIO) -> bytes:
    parts = []
    while True:
        size = int(reader.readline(_MAX_HEAD).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while reader.readline(_MAX_HEAD) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        parts.append(reader.read(size))
        reader.readline(_MAX_HEAD)  # the CRLF after each chunk


class FaultProxy:
    """A threaded HTTP proxy in front of ``upstream_url`` whose behaviour is scripted per
    request; see the module docstring."""

    def __init__(
        self,
        upstream_url: str,
        *,
        host: str = "127.0.0.1",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(upstream_url)
        if parts.scheme != "http" or not parts.hostname or parts.port is None:
            raise ValueError(f"upstream must be http://host:port, got {upstream_url!r}")
        self._upstream = (parts.hostname, parts.port)
        self._host = host
        self._ssl_context = ssl_context  # serve TLS to clients (upstream stays plain http)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._script: list[tuple[Matcher, Action]] = []
        self._default: Action = Pass()
        self._connections: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._port = 0
        self.log: list[Record] = []
        self.forwarded = 0
        self.connections_accepted = 0
        self._accept_thread: threading.Thread | None = None

    # --- public API -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (``https://localhost:<port>`` with ``ssl_context``):
        use it in place of the upstream's URL."""
        if self._ssl_context is not None:
            return f"https://localhost:{self._port}"
        return f"http://{self._host}:{self._port}"

    @property
    def seen(self) -> int:
        with self._lock:
            return len(self.log)

    def script(self, actions: Iterable[Action], *, when: str | Matcher | None = None) -> None:
        """Queue ``actions`` for the next requests that match ``when``."""
        match = _matcher(when)
        with self._lock:
            self._script.extend((match, action) for action in actions)

    def set_default(self, action: Action) -> None:
        """The action for requests no scripted action matches."""
        with self._lock:
            self._default = action

    def reset(self) -> None:
        """Clear the script, the log and the counters; the default becomes ``Pass()``."""
        with self._lock:
            self._script.clear()
            self._default = Pass()
            self.log.clear()
            self.forwarded = 0
            self.connections_accepted = 0

    def count(self, method: str | None = None, path_prefix: str = "") -> int:
        """Requests seen with ``method`` (any if None) whose path starts with ``path_prefix``."""
        with self._lock:
            return sum(
                1
                for r in self.log
                if (method is None or r.method == method.upper()) and r.path.startswith(path_prefix)
            )

    def set_listening(self, listening: bool) -> None:
        """Stop accepting (new connections are refused) or accept again on the same port."""
        if listening and self._listener is None:
            self._listen(self._port)
        elif not listening and self._listener is not None:
            listener, self._listener = self._listener, None
            # shutdown() wakes the thread blocked in accept(); close() alone would not.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
            if self._accept_thread is not None:
                self._accept_thread.join(5)

    def start(self) -> FaultProxy:
        self._listen(0)
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.set_listening(False)
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- internals ------------------------------------------------------------------------

    def _listen(self, port: int) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self._host, port))
        listener.listen(64)
        self._port = listener.getsockname()[1]
        self._listener = listener
        self._accept_thread = threading.Thread(
            target=self._accept_loop, args=(listener,), name="fault-proxy-accept", daemon=True
        )
        self._accept_thread.start()

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # listener closed
            with self._lock:
                self._connections.add(conn)
                self.connections_accepted += 1
            threading.Thread(
                target=self._serve, args=(conn,), name="fault-proxy-conn", daemon=True
            ).start()

    def _next_action(self, method: str, path: str) -> Action:
        with self._lock:
            index = next(
                (i for i, (match, _) in enumerate(self._script) if match(method, path)), None
            )
            action = self._default if index is None else self._script.pop(index)[1]
            self.log.append(Record(method, path, action))
            return action

    def _serve(self, raw: socket.socket) -> None:
        conn = raw
        try:
            if self._ssl_context is not None:
                raw.settimeout(10)
                conn = self._ssl_context.wrap_socket(raw, server_side=True)
                conn.settimeout(None)
            reader = conn.makefile("rb")
            while not self._stopping.is_set():
                request = _read_request(reader)
                if request is None:
                    return
                action = self._next_action(request.method, request.path)
                if not self._perform(conn, request, action):
                    return
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                self._connections.discard(raw)
            with contextlib.suppress(OSError):
                conn.close()

    def _perform(self, conn: socket.socket, request: _Request, action: Action) -> bool:
        """Carry out ``action``; False when the client connection must close."""
        if isinstance(action, DropBeforeForward):
            return False
        if isinstance(action, Respond):
            conn.sendall(self._synthetic(action))
            return True
        if isinstance(action, Delay):
            self._stopping.wait(action.seconds)
        answer = self._forward(request)
        if isinstance(action, DropAfterForward):
            return False
        if isinstance(action, DelayResponse):
            self._stopping.wait(action.seconds)
        conn.sendall(answer)
        return True

    @staticmethod
    def _synthetic(action: Respond) -> bytes:
        reason = _REASONS.get(action.status, "Fault")
        headers = [
            f"HTTP/1.1 {action.status} {reason}",
            f"Content-Length: {len(action.body)}",
            "Content-Type: application/json",
        ]
        if action.retry_after is not None:
            headers.append(f"Retry-After: {action.retry_after}")
        return ("\r\n".join(headers) + "\r\n\r\n").encode("latin-1") + action.body

    def _forward(self, request: _Request) -> bytes:
        """Send ``request`` upstream on a fresh connection; the whole answer, made keep-alive."""
        host, port = self._upstream
        head = [request.head_lines[0]]
        for line in request.head_lines[1:]:
            name = line.split(b":", 1)[0].strip().lower()
            if name not in (b"host", b"connection", b"keep-alive"):
                head.append(line)
        head += [f"Host: {host}:{port}\r\n".encode(), b"Connection: close\r\n", b"\r\n"]
        with socket.create_connection((host, port), timeout=60) as upstream:
            upstream.sendall(b"".join(head) + request.body)
            with self._lock:
                self.forwarded += 1
            chunks = []
            while chunk := upstream.recv(65536):
                chunks.append(chunk)
        raw = b"".join(chunks)
        status_and_headers, sep, body = raw.partition(b"\r\n\r\n")
        kept = [
            line
            for line in status_and_headers.split(b"\r\n")
            if line.split(b":", 1)[0].strip().lower() != b"connection"
        ]
        return b"\r\n".join(kept) + sep + body


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
