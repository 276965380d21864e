"""Gate optional framework imports behind an error that names the pip extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["install_hint", "require"]

_EXTRA_OF = {
    "lightning": "lightning",
    "torch": "lightning",
    "sklearn": "sklearn",
}


def install_hint(module: str) -> str:
    """The message for a missing optional ``module``, naming the extra that provides it."""
    extra = _EXTRA_OF.get(module.partition(".")[0], "all")
    return (
        f"{module!r} is not installed; jfml_tracking.integrations needs it here. "
        f"Install it with: pip install 'jfml-tracking[{extra}]'"
    )


def require(module: str) -> ModuleType:
    """Import ``module`` or raise an ImportError that says which extra provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(install_hint(module)) from exc
