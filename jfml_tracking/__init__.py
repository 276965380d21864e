"""jfml-tracking: send MLflow, PyTorch Lightning and scikit-learn training work to JFrog ML."""

from __future__ import annotations

from typing import Any

__all__ = ["autolog"]


def __getattr__(name: str) -> Any:
    # Lazy, so that `import jfml_tracking` (done by MLflow's plugin loading) stays cheap.
    if name == "autolog":
        from jfml_tracking.autolog import autolog

        return autolog
    raise AttributeError(f"module 'jfml_tracking' has no attribute {name!r}")
