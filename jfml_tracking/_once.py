"""Warnings said once per process, whatever thread says them first."""

from __future__ import annotations

import logging
import threading
from typing import Any

__all__ = ["warn_once"]

_said: set[str] = set()
_lock = threading.Lock()


def warn_once(logger: logging.Logger, key: str, message: str, *args: Any) -> None:
    """Log ``message`` at WARNING on ``logger`` the first time ``key`` is seen in this process."""
    with _lock:
        if key in _said:
            return
        _said.add(key)
    logger.warning(message, *args)
