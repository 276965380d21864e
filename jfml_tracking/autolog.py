"""``jfml_tracking.autolog()``: one call in a notebook or script to track everything to JFrog ML.

It points MLflow at JFrog ML (``MLFLOW_TRACKING_URI`` if set, else the JFrog ML server found in
``JF_URL`` or your frogml / JFrog CLI configuration), turns on autologging for the frameworks
that are installed, and prints one line saying where runs go. Calling it again (re-running the
cell) changes nothing but the settings you pass.

Frameworks: scikit-learn through ``mlflow.sklearn.autolog``; PyTorch Lightning by adding a
:class:`~jfml_tracking.integrations.lightning.JFrogMLLogger` to every ``Trainer.fit`` that has
no JFrog ML or MLflow logger yet. Neither framework is imported unless it is installed.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
import types
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

__all__ = ["SUPPORTED_FRAMEWORKS", "autolog"]

SUPPORTED_FRAMEWORKS = ("sklearn", "lightning")
LOCAL_DB_NAME = "local-mlflow.db"

# Settings the Lightning patch reads at each fit, so that re-running autolog() updates them.
_lightning_settings: dict[str, Any] = {}
# The destination chosen by the last call (MLflow exports it as MLFLOW_TRACKING_URI).
_state: dict[str, str] = {}


def autolog(
    tracking_uri: str | None = None,
    *,
    experiment_name: str | None = None,
    frameworks: Iterable[str] | None = None,
    log_models: bool = True,
    quiet: bool = False,
    disable: bool = False,
) -> str:
    """Track this process's training to JFrog ML; returns the tracking URI in use.

    Args:
        tracking_uri: overrides ``MLFLOW_TRACKING_URI`` and the configured server.
        experiment_name: MLflow experiment (JFrog ML model) for the runs; MLflow's active
            experiment when omitted (Lightning runs then use the LightningModule's class name).
        frameworks: a subset of ``("sklearn", "lightning")``; default: all that are installed.
        log_models: record fitted models / best checkpoints as model versions.
        quiet: don't print the one-line summary.
        disable: turn autologging off again (the tracking URI stays as it is).
    """
    import mlflow

    wanted = _check_frameworks(frameworks)
    if disable:
        for name in wanted:
            _DISABLERS[name]()
        return mlflow.get_tracking_uri()
    uri, where = _resolve_destination(tracking_uri)
    mlflow.set_tracking_uri(uri)
    _state.update(uri=uri, where=where)
    if experiment_name:
        mlflow.set_experiment(experiment_name)
    enabled = [name for name in wanted if _ENABLERS[name](log_models, experiment_name)]
    if not quiet:
        frameworks_text = ", ".join(enabled) if enabled else "none installed"
        print(f"jfml: {where} (autologging: {frameworks_text})", file=sys.stdout)
    return uri


def _check_frameworks(frameworks: Iterable[str] | None) -> list[str]:
    if frameworks is None:
        return list(SUPPORTED_FRAMEWORKS)
    chosen = list(frameworks)
    unknown = sorted(set(chosen) - set(SUPPORTED_FRAMEWORKS))
    if unknown:
        raise ValueError(
            f"autolog() does not know the framework(s) {unknown}; choose from "
            f"{list(SUPPORTED_FRAMEWORKS)}"
        )
    return chosen


def _resolve_destination(tracking_uri: str | None) -> tuple[str, str]:
    """The tracking URI to use and a one-line description of where runs go."""
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if uri and tracking_uri is None and uri == _state.get("uri"):
        return uri, _state["where"]  # MLflow exported the URI chosen by an earlier call
    if uri:
        return uri, _describe(uri)
    if _platform_url("jfml:") is not None:
        return "jfml:", _describe("jfml:")
    from jfml_tracking.config import resolve_home

    path = Path(resolve_home()) / LOCAL_DB_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    return (
        f"sqlite:///{path}",
        f"no JFrog ML server configured (set JF_URL and JF_ACCESS_TOKEN, or MLFLOW_TRACKING_URI); "
        f"runs stay local in {path}",
    )


def _platform_url(uri: str) -> str | None:
    """The JFrog platform URL a ``jfml`` URI points at, or None when none is configured."""
    from jfml_tracking.config import ConfigurationError, resolve_settings

    try:
        # A placeholder token: only the URL matters here, and nothing is sent.
        settings = resolve_settings(uri, token="placeholder-never-sent")
    except ConfigurationError:
        return None
    return str(settings.platform_url)


def _describe(uri: str) -> str:
    if not uri.startswith("jfml"):
        return f"tracking to MLflow at {_without_userinfo(uri)}"
    platform = _platform_url(uri)
    if platform is None:
        return f"tracking URI {uri} names no JFrog ML server; see `jfml doctor`"
    from jfml_tracking.config import resolve_mode

    if str(getattr(resolve_mode(), "value", resolve_mode())).lower() == "offline":
        return (
            f"offline (JFML_MODE=offline): runs for {platform} are journaled locally; "
            f"send them with `jfml sync`"
        )
    if not _has_credentials(uri):
        return (
            f"JFrog ML at {platform}, but no credentials found (set JF_ACCESS_TOKEN or "
            f"JF_USER/JF_PASSWORD): runs are journaled locally; send them with `jfml sync`"
        )
    return f"tracking to JFrog ML at {platform}"


def _has_credentials(uri: str) -> bool:
    from jfml_tracking.config import ConfigurationError, resolve_settings

    try:
        resolve_settings(uri)
    except ConfigurationError:
        return False
    return True


def _without_userinfo(uri: str) -> str:
    scheme, sep, rest = uri.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return uri
    return f"{scheme}://{rest.split('@', 1)[1]}"


def _enable_sklearn(log_models: bool, experiment_name: str | None) -> bool:
    if importlib.util.find_spec("sklearn") is None:
        return False
    import mlflow.sklearn

    mlflow.sklearn.autolog(log_models=log_models, log_input_examples=False, silent=True)
    return True


def _enable_lightning(log_models: bool, experiment_name: str | None) -> bool:
    if importlib.util.find_spec("lightning") is None:
        return False
    import lightning.pytorch as pl

    _lightning_settings.update(log_models=log_models, experiment_name=experiment_name)
    fit = pl.Trainer.fit
    if not getattr(fit, "_jfml_autolog", False):
        pl.Trainer.fit = _with_jfml_logger(fit)  # type: ignore[method-assign]
    return True


def _with_jfml_logger(fit: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fit)
    def patched(trainer: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
        _add_logger(trainer, model)
        return fit(trainer, model, *args, **kwargs)

    patched._jfml_autolog = True  # type: ignore[attr-defined]
    return patched


def _add_logger(trainer: Any, model: Any) -> None:
    from lightning.pytorch.loggers import MLFlowLogger

    from jfml_tracking.integrations.lightning import JFrogMLLogger

    if any(isinstance(lg, (JFrogMLLogger, MLFlowLogger)) for lg in trainer.loggers):
        return
    name = _lightning_settings.get("experiment_name") or _active_experiment_name()
    logger = JFrogMLLogger(
        name or type(model).__name__,
        log_model="best" if _lightning_settings.get("log_models", True) else False,
    )
    trainer.loggers = [*trainer.loggers, logger]


def _active_experiment_name() -> str | None:
    return os.environ.get("MLFLOW_EXPERIMENT_NAME") or None


def _disable_sklearn() -> None:
    if importlib.util.find_spec("sklearn") is not None:
        import mlflow.sklearn

        mlflow.sklearn.autolog(disable=True)


def _disable_lightning() -> None:
    if importlib.util.find_spec("lightning") is None:
        return
    import lightning.pytorch as pl

    fit = pl.Trainer.fit
    if getattr(fit, "_jfml_autolog", False):
        pl.Trainer.fit = fit.__wrapped__  # type: ignore[attr-defined, method-assign]


_DISABLERS: dict[str, Callable[[], None]] = {
    "sklearn": _disable_sklearn,
    "lightning": _disable_lightning,
}

_ENABLERS: dict[str, Callable[[bool, str | None], bool]] = {
    "sklearn": _enable_sklearn,
    "lightning": _enable_lightning,
}


class _CallableModule(types.ModuleType):
    # Importing this module binds the package attribute ``jfml_tracking.autolog`` to the module,
    # shadowing the function of the same name; a callable module keeps
    # ``jfml_tracking.autolog(...)`` working in whichever order things were imported.
    def __call__(self, *args: Any, **kwargs: Any) -> str:
        return autolog(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
