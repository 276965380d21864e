"""Authentication for every ``/ml/api`` route: bearer tokens and basic users.

Only digests are kept in memory: tokens as SHA-256, passwords as salted scrypt hashes. Every
comparison goes through ``hmac.compare_digest`` and checks all candidates, so timing reveals
neither which token nor whether a user exists. scrypt is slow on purpose; a successful basic
login is remembered as an HMAC under a per-process random key, so later requests stay fast
without keeping the password.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import anyio
from starlette.types import Receive, Scope, Send

from jfml_tracking.api import ErrorCode
from jfml_tracking.server.middleware import send_error

__all__ = [
    "ANONYMOUS",
    "AuthMiddleware",
    "Authenticator",
    "hash_password",
    "load_users_file",
    "token_principal",
    "verify_password",
]

ANONYMOUS = "anonymous"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_CHALLENGE = [
    (b"www-authenticate", b'Bearer realm="jfml"'),
    (b"www-authenticate", b'Basic realm="jfml", charset="UTF-8"'),
]


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64), the format ``users`` maps hold."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    params = f"{_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}"
    return f"scrypt${params}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches a ``hash_password`` result; constant-time compare."""
    try:
        scheme, n, r, p, salt_b64, digest_b64 = encoded.split("$")
        if scheme != "scrypt":
            return False
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
        actual = hashlib.scrypt(
            password.encode(), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(actual, expected)


def load_users_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read ``user:password`` lines (``#`` comments and blank lines allowed) into hashes.

    The passwords are hashed at once and never kept. Errors name the line, never its content.
    """
    users: dict[str, str] = {}
    for number, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not user or not password:
            raise ValueError(f"{path}, line {number}: expected 'user:password'")
        if user in users:
            raise ValueError(f"{path}, line {number}: user {user!r} appears twice")
        users[user] = hash_password(password)
    return users


def token_principal(token: str) -> str:
    """A non-secret name for a token, used as ``created_by``: ``token:<sha256 prefix>``."""
    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:12]


class Authenticator:
    """Decides who sent a request from its ``Authorization`` header."""

    def __init__(
        self, *, tokens: Iterable[str] = (), users: Mapping[str, str] | None = None
    ) -> None:
        self._tokens = [hashlib.sha256(t.encode()).digest() for t in tokens if t]
        self._users = dict(users or {})
        self._dummy_hash = hash_password(secrets.token_hex(8))
        self._session_key = os.urandom(32)
        self._verified: dict[str, bytes] = {}  # user -> HMAC(session key, password)

    @property
    def configured(self) -> bool:
        return bool(self._tokens or self._users)

    def principal(self, authorization: str | None) -> str | None:
        """The principal for a header value, or None when it does not authenticate."""
        if not authorization:
            return None
        scheme, _, credentials = authorization.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer":
            return self._bearer(credentials.strip())
        if scheme == "basic":
            return self._basic(credentials.strip())
        return None

    def _bearer(self, token: str) -> str | None:
        presented = hashlib.sha256(token.encode()).digest()
        matched = False
        for known in self._tokens:  # no early exit: timing must not tell which one matched
            matched |= hmac.compare_digest(presented, known)
        return token_principal(token) if matched else None

    def _basic(self, credentials: str) -> str | None:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (ValueError, binascii.Error):
            return None
        user, sep, password = decoded.partition(":")
        if not sep:
            return None
        mac = hmac.new(self._session_key, password.encode(), hashlib.sha256).digest()
        remembered = self._verified.get(user)
        if remembered is not None and hmac.compare_digest(mac, remembered):
            return user
        stored = self._users.get(user)
        # Unknown users still pay for one scrypt, so response time does not reveal them.
        ok = verify_password(password, stored or self._dummy_hash) and stored is not None
        if ok:
            self._verified[user] = mac
            return user
        return None


class AuthMiddleware:
    """401 with ``WWW-Authenticate`` unless the request authenticates; sets the principal.

    The principal lands in ``scope["state"]["principal"]`` for ``created_by``.
    """

    def __init__(self, app: Any, *, authenticator: Authenticator | None) -> None:
        self.app = app
        self.authenticator = authenticator  # None means --no-auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        principal = ANONYMOUS if self.authenticator is None else await self._principal(scope)
        if principal is None:
            await send_error(
                send,
                scope,
                401,
                ErrorCode.UNAUTHORIZED,
                "Authentication required: send 'Authorization: Bearer <token>' or basic "
                "credentials that this server accepts (see jfml server --token/--users-file).",
                _CHALLENGE,
            )
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    async def _principal(self, scope: Scope) -> str | None:
        assert self.authenticator is not None
        for key, value in scope.get("headers", []):
            if key == b"authorization":
                header = value.decode("latin-1")
                if header[:6].lower() == "basic ":
                    # scrypt takes tens of milliseconds: keep it off the event loop.
                    return await anyio.to_thread.run_sync(self.authenticator.principal, header)
                return self.authenticator.principal(header)
        return None
