"""Secrets that never print, and redaction for text that might contain one."""

from __future__ import annotations

import logging
import re
import threading
import weakref
from collections.abc import Iterable

__all__ = ["RedactingFilter", "Secret", "redact", "register_secret"]

MASK = "********"
# Never reveal more than this many trailing characters, and only of tokens long enough
# that the hint cannot help guess the rest.
_HINT_CHARS = 4
_HINT_MIN_LENGTH = 12

# Shapes of credentials that may turn up in text we did not build ourselves.
# A credential-looking value: 8+ token characters, at least one digit (so that prose such as
# "basic credentials" or a placeholder like "<token>" is left alone).
_VALUE = r"(?=[A-Za-z0-9._~+/=-]*\d)[A-Za-z0-9._~+/=-]{8,}"
_PATTERNS = [
    re.compile(rf"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(?!bearer\b|basic\b){_VALUE}"),
    re.compile(rf"(?i)\b(bearer|basic)(\s+){_VALUE}"),
    re.compile(
        r"(?i)([\"']?(?:access_?token|accesstoken|password|token|api_?key)[\"']?\s*[:=]\s*[\"']?)"
        r"(?!<)[^\s,;'\"}]{4,}"
    ),
    re.compile(r"(?i)(://[^/\s:@]+:)[^/\s@]+@"),
]

_registry_lock = threading.Lock()
_registry: weakref.WeakSet[Secret] = weakref.WeakSet()


class Secret:
    """A string that shows as ``********`` in ``repr``, ``str`` and f-strings.

    Call :meth:`get_secret_value` at the single place the real value is needed (the
    ``Authorization`` header). Every ``Secret`` also registers itself, so that
    :func:`redact` and :class:`RedactingFilter` mask its value wherever it might leak.
    """

    __slots__ = ("__weakref__", "_value")

    def __init__(self, value: str) -> None:
        self._value = value
        register_secret(self)

    def get_secret_value(self) -> str:
        return self._value

    def hint(self) -> str:
        """At most the last 4 characters, e.g. ``'...a1b2'``; nothing for short secrets."""
        if len(self._value) < _HINT_MIN_LENGTH:
            return MASK
        return f"...{self._value[-_HINT_CHARS:]}"

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> tuple[object, ...]:
        # Picklable on purpose: settings travel to spawned worker processes (DDP, joblib),
        # which need the credential; a Secret re-registers itself on arrival.
        return (Secret, (self._value,))


def register_secret(secret: Secret) -> None:
    """Make :func:`redact` mask ``secret`` wherever it appears (kept until garbage-collected)."""
    if len(secret.get_secret_value()) >= 4:
        with _registry_lock:
            _registry.add(secret)


def redact(text: str, secrets: Iterable[str | Secret] = ()) -> str:
    """Mask credentials in ``text``: the given secrets, every live :class:`Secret`, and
    anything shaped like an ``Authorization`` header, a token or password assignment, or
    ``user:password@`` in a URL."""
    with _registry_lock:
        known = [s.get_secret_value() for s in _registry]
    for secret in [*known, *secrets]:
        value = secret.get_secret_value() if isinstance(secret, Secret) else secret
        if value and len(value) >= 4:
            text = text.replace(value, MASK)
    text = _PATTERNS[0].sub(lambda m: f"{m.group(1)}{MASK}", text)
    text = _PATTERNS[1].sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    text = _PATTERNS[2].sub(lambda m: f"{m.group(1)}{MASK}", text)
    return _PATTERNS[3].sub(lambda m: f"{m.group(1)}{MASK}@", text)


class RedactingFilter(logging.Filter):
    """A logging filter that passes every record through :func:`redact`.

    Attach it to a handler (``handler.addFilter(RedactingFilter())``) to make sure no
    credential reaches that handler's output, whichever library logged it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
