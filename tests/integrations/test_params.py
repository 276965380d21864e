"""Hyperparameter flattening for MLflow params."""

from __future__ import annotations

import dataclasses
import json
from argparse import Namespace

import pytest
from jfml_tracking.integrations import _params
from jfml_tracking.integrations._params import config_json, flatten_params
from mlflow.utils import validation


@dataclasses.dataclass
class Inner:
    depth: int = 2
    names: tuple = ("a", "b")


def test_flattens_dicts_dataclasses_and_namespaces_without_mutating():
    params = {"lr": 0.1, "model": Inner(), "args": Namespace(seed=7, extra={"k": None})}
    original = repr(params)
    flat = flatten_params(params)
    assert flat == {
        "lr": "0.1",
        "model/depth": "2",
        "model/names": "('a', 'b')",
        "args/seed": "7",
        "args/extra/k": "None",
    }
    assert repr(params) == original


def test_long_values_and_keys_fit_mlflow_limits_and_config_keeps_everything():
    long_key = "k" * 300
    params = {"v": "x" * 10_000, long_key: 1}
    flat = flatten_params(params)
    assert len(flat["v"]) == validation.MAX_PARAM_VAL_LENGTH
    assert flat["v"].endswith(_params.TRUNCATION_MARKER)
    assert [len(k) for k in flat if k != "v"] == [validation.MAX_ENTITY_KEY_LENGTH]
    assert json.loads(config_json(params))["v"] == "x" * 10_000


def test_limits_match_mlflow():
    assert _params.MAX_PARAM_VAL_LENGTH == validation.MAX_PARAM_VAL_LENGTH
    assert _params.MAX_ENTITY_KEY_LENGTH == validation.MAX_ENTITY_KEY_LENGTH


def test_rejects_other_types_with_a_clear_message():
    with pytest.raises(TypeError, match=r"dict, a dataclass instance or an argparse\.Namespace"):
        flatten_params([1, 2])
