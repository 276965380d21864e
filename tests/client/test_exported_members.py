"""The public namespaces: ``__all__`` lists exactly the public names (ruff keeps it sorted)."""

import types

import jfml_tracking.client as client
import jfml_tracking.config as config


def _public(module: types.ModuleType) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and name != "annotations"
        and not isinstance(value, types.ModuleType)
    }


def test_client_exports_are_complete() -> None:
    assert len(client.__all__) == len(set(client.__all__))
    assert set(client.__all__) == _public(client)


def test_client_classes_present_one_namespace() -> None:
    for name in client.__all__:
        obj = getattr(client, name)
        if isinstance(obj, type) and obj.__module__.startswith("jfml_tracking.client"):
            assert obj.__module__ == "jfml_tracking.client", name


def test_config_exports_are_complete() -> None:
    assert len(config.__all__) == len(set(config.__all__))
    assert set(config.__all__) == _public(config)
