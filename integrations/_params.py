"""Turn hyperparameters (dicts, dataclasses, Namespaces, nested) into MLflow params.

MLflow caps key and value lengths; values over the cap are shortened with a visible marker and
the complete configuration is saved as a JSON artifact next to the run (see ``config_json``).
"""

from __future__ import annotations

import dataclasses
import json
from argparse import Namespace
from collections.abc import Mapping
from typing import Any

__all__ = [
    "MAX_ENTITY_KEY_LENGTH",
    "MAX_PARAM_VAL_LENGTH",
    "TRUNCATION_MARKER",
    "config_json",
    "flatten_params",
    "to_mapping",
]

# MLflow's limits (mlflow.utils.validation), copied so that joblib workers unpickling a callback
# need not import mlflow; tests/integrations/test_params.py checks they still match.
MAX_ENTITY_KEY_LENGTH = 250
MAX_PARAM_VAL_LENGTH = 6000

KEY_SEPARATOR = "/"
TRUNCATION_MARKER = "...[truncated; full value in the config artifact]"


def to_mapping(params: Any) -> dict[str, Any]:
    """A new dict for a Mapping, dataclass instance or Namespace; the input is never mutated."""
    if params is None:
        return {}
    if isinstance(params, Namespace):
        return dict(vars(params))
    if dataclasses.is_dataclass(params) and not isinstance(params, type):
        return {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}
    if isinstance(params, Mapping):
        return dict(params)
    raise TypeError(
        f"hyperparameters must be a dict, a dataclass instance or an argparse.Namespace, "
        f"not {type(params).__name__}"
    )


def _is_nested(value: Any) -> bool:
    return isinstance(value, (Mapping, Namespace)) or (
        dataclasses.is_dataclass(value) and not isinstance(value, type)
    )


def _walk(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if _is_nested(value):
        for key, inner in to_mapping(value).items():
            _walk(f"{prefix}{KEY_SEPARATOR}{key}" if prefix else str(key), inner, out)
    else:
        out[prefix] = value


def _fit(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER


def flatten_params(params: Any) -> dict[str, str]:
    """Flatten nested hyperparameters to ``a/b/c -> str(value)`` within MLflow's limits.

    Keys longer than MLflow's key limit keep their tail (the most specific part); values longer
    than the value limit are shortened with :data:`TRUNCATION_MARKER`.
    """
    flat: dict[str, Any] = {}
    _walk("", to_mapping(params), flat)
    out: dict[str, str] = {}
    for key, value in flat.items():
        short_key = key if len(key) <= MAX_ENTITY_KEY_LENGTH else key[-MAX_ENTITY_KEY_LENGTH:]
        out[short_key] = _fit(str(value), MAX_PARAM_VAL_LENGTH)
    return out


def _jsonable(value: Any) -> Any:
    if _is_nested(value):
        return {str(k): _jsonable(v) for k, v in to_mapping(value).items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def config_json(params: Any) -> str:
    """The complete, untruncated configuration as indented JSON (non-JSON values as repr)."""
    return json.dumps(_jsonable(to_mapping(params)), indent=2, sort_keys=True, default=repr)
