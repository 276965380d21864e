"""Options and payloads of the ``jfml`` deployments target: ``-C`` config and scoring bodies."""

from __future__ import annotations

import json
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

__all__ = [
    "CONFIG_KEYS",
    "DEFAULT_WAIT_TIMEOUT",
    "SCORING_KEYS",
    "check_flavor",
    "int_option",
    "parse_config",
    "scoring_payload",
]

SCORING_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
DEFAULT_WAIT_TIMEOUT = 300.0
_RESOURCE_KEYS = ("cpu", "memory", "gpu")
CONFIG_KEYS = ("replicas", *_RESOURCE_KEYS, "wait", "timeout")
_PYFUNC_FLAVORS = (None, "python_function", "pyfunc")


def parse_config(config: dict[str, Any] | None, *, default_replicas: int = 1) -> dict[str, Any]:
    """Validate ``-C`` options; unknown keys and bad values raise with the allowed ones."""
    config = dict(config or {})
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise MlflowException(
            f"Unknown config option(s) {unknown}; the jfml target accepts "
            f"{', '.join(CONFIG_KEYS)} (see `mlflow deployments help -t jfml`).",
            INVALID_PARAMETER_VALUE,
        )
    resources: dict[str, Any] = {}
    for key in ("cpu", "memory"):
        if config.get(key) not in (None, ""):
            resources[key] = str(config[key])
    if config.get("gpu") not in (None, ""):
        resources["gpu"] = int_option(config, "gpu", 0, minimum=0)
    timeout = _float_option(config, "timeout", DEFAULT_WAIT_TIMEOUT)
    return {
        "replicas": int_option(config, "replicas", default_replicas, minimum=1),
        "resources": resources,
        "wait": _bool_option(config, "wait", True),
        "timeout": timeout,
    }


def int_option(config: dict[str, Any], key: str, default: int, *, minimum: int) -> int:
    raw = config.get(key, default)
    try:
        value = int(str(raw).strip())
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise MlflowException(
            f"-C {key}={raw!r} is not valid: expected a whole number >= {minimum}.",
            INVALID_PARAMETER_VALUE,
        )
    return value


def _float_option(config: dict[str, Any], key: str, default: float) -> float:
    raw = config.get(key, default)
    try:
        value = float(str(raw).strip())
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise MlflowException(
            f"-C {key}={raw!r} is not valid: expected a number of seconds >= 0.",
            INVALID_PARAMETER_VALUE,
        )
    return value


def _bool_option(config: dict[str, Any], key: str, default: bool) -> bool:
    raw = config.get(key, default)
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise MlflowException(
        f"-C {key}={raw!r} is not valid: use true or false.", INVALID_PARAMETER_VALUE
    )


def check_flavor(flavor: str | None) -> None:
    if flavor not in _PYFUNC_FLAVORS:
        raise MlflowException(
            f"Flavor {flavor!r} is not supported: JFrog ML deployments serve the python_function "
            "flavor; omit --flavor.",
            INVALID_PARAMETER_VALUE,
        )


def scoring_payload(inputs: Any) -> bytes:
    """The JSON body of an MLflow scoring request for ``inputs``.

    A DataFrame read from a scoring-payload file (``mlflow deployments predict --input-path``
    reads files with ``pandas.read_json``) is turned back into that payload, so files holding
    ``{"dataframe_split": ...}``, ``{"instances": ...}`` etc. work as they do with MLflow's
    scoring server.
    """
    if isinstance(inputs, (bytes, bytearray)):
        return bytes(inputs)
    if isinstance(inputs, str):
        return inputs.encode()
    payload = _payload_of(inputs)
    return json.dumps(payload, default=_json_default, allow_nan=True).encode()


def _payload_of(inputs: Any) -> dict[str, Any]:
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas comes with mlflow
        pd = None
    if pd is not None and isinstance(inputs, pd.DataFrame):
        if len(inputs.columns) == 1 and inputs.columns[0] in SCORING_KEYS:
            key = inputs.columns[0]
            column = inputs[key]
            if isinstance(inputs.index, pd.RangeIndex):
                return {key: column.tolist()}
            return {key: column.to_dict()}
        return {
            "dataframe_split": {
                "columns": [
                    _json_default(c) if not isinstance(c, str) else c for c in inputs.columns
                ],
                "data": inputs.to_numpy(dtype=object).tolist(),
            }
        }
    if pd is not None and isinstance(inputs, pd.Series):
        return {"inputs": inputs.tolist()}
    if isinstance(inputs, dict):
        return inputs if any(k in inputs for k in SCORING_KEYS) else {"inputs": inputs}
    if hasattr(inputs, "tolist"):
        return {"inputs": inputs.tolist()}
    if isinstance(inputs, (list, tuple)):
        return {"inputs": list(inputs)}
    raise MlflowException(
        f"Cannot send {type(inputs).__name__} to a deployment: pass a pandas DataFrame, a numpy "
        "array, a list, or an MLflow scoring payload dict.",
        INVALID_PARAMETER_VALUE,
    )


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return str(value)
