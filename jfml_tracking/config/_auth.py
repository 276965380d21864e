"""httpx authentication for JFrog ML: bearer token, basic, and a token file re-read on 401."""

from __future__ import annotations

import base64
import threading
from collections.abc import Generator
from pathlib import Path

import httpx

from jfml_tracking.config._errors import ConfigurationError
from jfml_tracking.config._secret import Secret

__all__ = ["BasicAuth", "BearerAuth", "TokenFileAuth", "read_token_file"]


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer <token>``; the token is a :class:`Secret`."""

    def __init__(self, token: Secret) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token.get_secret_value()}"
        yield request

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BearerAuth) and other.token == self.token

    def __hash__(self) -> int:
        return hash(self.token)

    def __repr__(self) -> str:
        return f"BearerAuth(token={self.token!r})"


class BasicAuth(httpx.Auth):
    """``Authorization: Basic ...`` from a user name and a :class:`Secret` password."""

    def __init__(self, user: str, password: Secret) -> None:
        self.user = user
        self.password = password

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        pair = f"{self.user}:{self.password.get_secret_value()}".encode()
        request.headers["Authorization"] = f"Basic {base64.b64encode(pair).decode('ascii')}"
        yield request

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BasicAuth) and (other.user, other.password) == (
            self.user,
            self.password,
        )

    def __hash__(self) -> int:
        return hash((self.user, self.password))

    def __repr__(self) -> str:
        return f"BasicAuth(user={self.user!r}, password={self.password!r})"


def read_token_file(path: Path, *, variable: str = "JF_ACCESS_TOKEN_FILE") -> Secret:
    """The stripped content of a token file, or a :class:`ConfigurationError` saying why not."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the token file {path} (from {variable}): {exc.strerror or exc}. "
            f"Fix: point {variable} at a readable file that contains only the access token."
        ) from None
    if not text or "\n" in text:
        problem = "is empty" if not text else "has more than one line"
        raise ConfigurationError(
            f"the token file {path} (from {variable}) {problem}. "
            "Fix: write only the access token into it, on one line."
        )
    return Secret(text)


class TokenFileAuth(httpx.Auth):
    """Bearer auth whose token lives in a file that may be rotated while we run.

    On a 401 the file is read again; if the token changed, the request is sent once more with
    the new one (mounted Kubernetes or Vault secrets rotate in place). A 401 with an unchanged
    token is returned as is.
    """

    requires_request_body = True  # the retried request must carry the same body

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._token = read_token_file(path)

    @property
    def token(self) -> Secret:
        with self._lock:
            return self._token

    def _reload(self, rejected: Secret) -> Secret | None:
        """The new token if the file changed since ``rejected`` was read, else None."""
        with self._lock:
            if self._token != rejected:  # another thread already reloaded it
                return self._token
            try:
                fresh = read_token_file(self.path)
            except ConfigurationError:
                return None
            if fresh == rejected:
                return None
            self._token = fresh
            return fresh

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.token
        request.headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        response = yield request
        if response.status_code != 401:
            return
        fresh = self._reload(token)
        if fresh is not None:
            request.headers["Authorization"] = f"Bearer {fresh.get_secret_value()}"
            yield request

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TokenFileAuth) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        del state["_lock"]  # locks do not pickle; a spawned process gets its own
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TokenFileAuth(path={str(self.path)!r})"
