"""scikit-learn integration: a ``sklearn.callback`` callback and a ``fit`` wrapper fallback.

With scikit-learn >= 1.9 (estimators that support callbacks: Pipeline, GridSearchCV,
RandomizedSearchCV, LogisticRegression, StandardScaler, ...)::

    search = GridSearchCV(Pipeline([...]), grid, n_jobs=2)
    search.set_callbacks(JFrogMLCallback(experiment_name="churn"))
    search.fit(X, y)

Any estimator, any scikit-learn version (the documented fallback, e.g. for ``Ridge``)::

    fit_tracked(Ridge(), X, y, callback=JFrogMLCallback(experiment_name="diabetes"))

Each outermost fit becomes one MLflow run (a JFrog ML experiment) with the estimator's params,
``training_score`` and ``fit_time_s`` metrics, and the fitted model as a LoggedModel (a JFrog ML
model version once the run ends). A hyperparameter search also records ``best_cv_score``, the
``best/*`` params, the full results table (``cv_results.csv``) and one child run for each of the
``max_child_runs`` best candidates, read from ``cv_results_`` so that ``n_jobs`` does not matter.

Set the callback on the outermost estimator; it does not propagate to sub-estimators. The run is
written when the fit ends, on the calling thread but bounded by ``finish_timeout``; a tracking
failure is a warning, never an error in your fit.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from jfml_tracking.integrations._deps import install_hint
from jfml_tracking.integrations._models import (
    default_run_name,
    log_model_files,
    safe_model_name,
)
from jfml_tracking.integrations._params import flatten_params
from jfml_tracking.integrations._status import RunStatus, status_from_exception
from jfml_tracking.integrations._writer import DEFAULT_FINISH_TIMEOUT, RunWriter

try:
    import numpy
    import sklearn
    from sklearn.base import BaseEstimator
except ImportError as _exc:  # pragma: no cover - exercised without the extra installed
    raise ImportError(install_hint("sklearn")) from _exc

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["DEFAULT_MAX_CHILD_RUNS", "JFrogMLCallback", "RunStatus", "fit_tracked"]

log = logging.getLogger("jfml_tracking.integrations")

DEFAULT_MAX_CHILD_RUNS = 5
MODEL_TYPE = "sklearn"
RESULTS_ARTIFACT = "cv_results.csv"
FRAMEWORK_TAG = "jfml.framework"
_SEARCH_METRIC_COLUMNS = ("mean_test_score", "std_test_score", "mean_fit_time", "rank_test_score")


class JFrogMLCallback:
    """Records each outermost fit of an estimator as a JFrog ML experiment and model version.

    Args:
        experiment_name: MLflow experiment, i.e. the JFrog ML model the runs belong to.
        run_name: name of each run; the estimator's class name and a timestamp when omitted.
        tracking_uri: e.g. ``jfml://acme``; ``None`` uses MLflow's current tracking URI.
        tags: run tags (copied, never modified).
        log_model: record the fitted estimator as the run's model (an MLflow sklearn model).
        log_training_score: record ``estimator.score(X, y)`` on the training data.
        max_child_runs: for searches, child runs for this many best candidates (0 for none).
        finish_timeout: the longest a fit waits for its run to be written.

    Attributes:
        run_ids: MLflow ids of the runs recorded so far, newest last.
        model_ids: ids of the LoggedModels (``models:/<id>``) recorded so far, newest last.
    """

    def __init__(
        self,
        experiment_name: str = "sklearn",
        run_name: str | None = None,
        *,
        tracking_uri: str | None = None,
        tags: Mapping[str, Any] | None = None,
        log_model: bool = True,
        log_training_score: bool = True,
        max_child_runs: int = DEFAULT_MAX_CHILD_RUNS,
        finish_timeout: float = DEFAULT_FINISH_TIMEOUT,
    ) -> None:
        if max_child_runs < 0:
            raise ValueError(f"max_child_runs must be >= 0, not {max_child_runs}")
        self.experiment_name = experiment_name
        self.run_name = run_name
        self.tracking_uri = tracking_uri
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}
        self.log_model = log_model
        self.log_training_score = log_training_score
        self.max_child_runs = max_child_runs
        self.finish_timeout = finish_timeout
        # Ids of finished runs and of their models, newest last; main process only.
        self.run_ids: list[str] = []
        self.model_ids: list[str] = []

    def __getstate__(self) -> dict[str, Any]:
        # scikit-learn pickles callbacks into joblib workers (n_jobs > 1); workers only see
        # subtasks, which this callback ignores, so configuration is all they need.
        state = dict(self.__dict__)
        state["run_ids"] = []
        state["model_ids"] = []
        return state

    # -- the FitCallback protocol ---------------------------------------------------------

    def setup(self, estimator: BaseEstimator, context: Any) -> None:
        """Start recording a fit of the outermost estimator."""
        if hasattr(estimator, "_parent_callback_ctx"):
            log.warning(
                "jfml: JFrogMLCallback on %s inside a meta-estimator records nothing; "
                "set it on the outermost estimator",
                type(estimator).__name__,
            )
            return
        _FITS[context.root_uuid] = _FitRecord(self, estimator)

    def on_fit_task_begin(
        self, estimator: BaseEstimator, context: Any, *, X: Any = None, y: Any = None
    ) -> None:
        """Keep the training data of the outermost fit for the training score."""
        if context.parent is None:
            record = _FITS.get(context.root_uuid)
            if record is not None:
                record.X, record.y = X, y

    def on_fit_task_end(self, estimator: BaseEstimator, context: Any) -> bool:
        """Note that the outermost fit completed; never asks the estimator to stop."""
        if context.parent is None:
            record = _FITS.get(context.root_uuid)
            if record is not None:
                record.completed = True
        return False

    def teardown(self, estimator: BaseEstimator, context: Any) -> None:
        """Write the run: params, metrics, search results, child runs, model and status."""
        record = _FITS.pop(context.root_uuid, None)
        if record is None:
            return
        exc = sys.exc_info()[1]
        if record.completed and exc is None:
            status = RunStatus.FINISHED
        else:
            status = status_from_exception(exc) if exc is not None else RunStatus.FAILED
        record.write(status)


class _FitRecord:
    """What one outermost fit produced, and how to write it as an MLflow run."""

    def __init__(self, callback: JFrogMLCallback, estimator: BaseEstimator) -> None:
        self.callback = callback
        self.estimator = estimator
        self.started = time.time()
        self.X: Any = None
        self.y: Any = None
        self.completed = False

    def write(self, status: RunStatus) -> None:
        cb, est = self.callback, self.estimator
        fit_time = time.time() - self.started
        writer = RunWriter(
            tracking_uri=cb.tracking_uri,
            experiment_name=cb.experiment_name,
            run_name=cb.run_name or default_run_name(type(est).__name__),
            tags={FRAMEWORK_TAG: "scikit-learn", "estimator_class": _class_path(est), **cb.tags},
            flush_interval=cb.finish_timeout,
        )
        try:
            self._fill(writer, status, fit_time)
        except Exception as exc:
            log.warning("jfml: recording the fit failed (the fit itself is fine): %s", exc)
        writer.finish(status, cb.finish_timeout)
        if writer.run_id_if_known:
            cb.run_ids.append(writer.run_id_if_known)

    def _fill(self, writer: RunWriter, status: RunStatus, fit_time: float) -> None:
        cb, est = self.callback, self.estimator
        writer.log_params(_estimator_params(est))
        metrics: dict[str, float] = {"fit_time_s": fit_time}
        if status is RunStatus.FINISHED:
            metrics.update(self._scores())
        writer.log_metrics(metrics, step=0)
        results = getattr(est, "cv_results_", None) if status is RunStatus.FINISHED else None
        if isinstance(results, Mapping):
            best = getattr(est, "best_params_", None) or {}
            writer.log_params({f"best/{k}": v for k, v in flatten_params(best).items()})
            writer.log_text(_results_csv(results), RESULTS_ARTIFACT)
            writer.submit(_child_runs_op(writer, results, cb.max_child_runs), "log child runs")
        if status is RunStatus.FINISHED and cb.log_model:
            writer.submit(_model_op(writer, est, cb.model_ids), "record fitted model")

    def _scores(self) -> dict[str, float]:
        est, out = self.estimator, {}
        best = getattr(est, "best_score_", None)
        if isinstance(best, (int, float)):
            out["best_cv_score"] = float(best)
        n_iter = getattr(est, "n_iter_", None)
        if n_iter is not None:  # an int, or an array (one count per class or fold)
            with contextlib.suppress(TypeError, ValueError):
                out["n_iter"] = float(numpy.max(n_iter))
        if self.callback.log_training_score and self.X is not None and hasattr(est, "score"):
            try:
                args = (self.X,) if self.y is None else (self.X, self.y)
                out["training_score"] = float(est.score(*args))
            except Exception as exc:  # e.g. a transformer without a meaningful score
                log.debug("jfml: no training score for %s: %s", type(est).__name__, exc)
        return out


def _class_path(est: Any) -> str:
    return f"{type(est).__module__}.{type(est).__qualname__}"


def _estimator_params(est: BaseEstimator) -> dict[str, str]:
    """Deep params; nested estimators appear by class name (their own params are listed too)."""
    params = {
        key: (type(value).__name__ if isinstance(value, BaseEstimator) else value)
        for key, value in est.get_params(deep=True).items()
    }
    return flatten_params(params)


def _results_csv(results: Mapping[str, Any]) -> str:
    columns = [c for c in results if c != "params"]
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow(columns)
    n_rows = len(results[columns[0]]) if columns else 0
    for i in range(n_rows):
        out.writerow([results[c][i] for c in columns])
    return buffer.getvalue()


def _child_runs_op(writer: RunWriter, results: Mapping[str, Any], limit: int) -> Any:
    """An op writing child runs for the ``limit`` best-ranked candidates of ``cv_results_``."""
    ranks = list(results.get("rank_test_score", []))
    order = sorted(range(len(ranks)), key=lambda i: ranks[i])[:limit]

    def op(client: MlflowClient, parent_run_id: str) -> None:
        from mlflow.entities import Metric, Param

        now = int(time.time() * 1000)
        for i in order:
            run = client.create_run(
                str(writer.experiment_id),
                run_name=f"{writer.run_name}-candidate-{i}",
                tags={"mlflow.parentRunId": parent_run_id, "jfml.candidate_index": str(i)},
            )
            params = flatten_params(results["params"][i])
            metrics = [
                Metric(col, float(results[col][i]), now, 0)
                for col in _SEARCH_METRIC_COLUMNS
                if col in results
            ]
            client.log_batch(
                run.info.run_id, metrics=metrics, params=[Param(k, v) for k, v in params.items()]
            )
            client.set_terminated(run.info.run_id, RunStatus.FINISHED.value)

    return op


def _model_op(writer: RunWriter, est: BaseEstimator, model_ids: list[str]) -> Any:
    """An op saving ``est`` as an MLflow sklearn model and recording it as the run's model."""

    def op(client: MlflowClient, run_id: str) -> None:
        with tempfile.TemporaryDirectory(prefix="jfml-sklearn-") as tmp:
            path = f"{tmp}/model"
            _save_sklearn_model(est, path)
            model = log_model_files(
                client,
                run_id=run_id,
                experiment_id=str(writer.experiment_id),
                path=path,
                name=safe_model_name(type(est).__name__),
                model_type=MODEL_TYPE,
                tags={"estimator_class": _class_path(est)},
            )
        model_ids.append(model.model_id)

    return op


def _save_sklearn_model(est: BaseEstimator, path: str) -> None:
    import mlflow.sklearn
    from mlflow.exceptions import MlflowException

    # Explicit requirements skip MLflow's requirement inference, which takes seconds per fit.
    requirements = [f"scikit-learn=={sklearn.__version__}"]
    try:
        mlflow.sklearn.save_model(est, path, pip_requirements=requirements)
    except MlflowException:
        # MLflow's default (skops) refuses some estimators, e.g. searches over pipelines.
        shutil.rmtree(path, ignore_errors=True)
        mlflow.sklearn.save_model(
            est,
            path,
            pip_requirements=requirements,
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        )


_FITS: dict[uuid.UUID, _FitRecord] = {}


def fit_tracked(
    estimator: BaseEstimator,
    X: Any,
    y: Any = None,
    *,
    callback: JFrogMLCallback | None = None,
    **fit_params: Any,
) -> BaseEstimator:
    """Fit ``estimator`` and record the fit like :class:`JFrogMLCallback` does.

    The fallback for estimators without ``set_callbacks`` (e.g. ``Ridge``) and for scikit-learn
    older than 1.9. Returns the fitted estimator; exceptions from ``fit`` propagate unchanged
    after the run is recorded as FAILED (or KILLED for ``KeyboardInterrupt``).
    """
    callback = callback or JFrogMLCallback()
    record = _FitRecord(callback, estimator)
    record.X, record.y = X, y
    status = RunStatus.FAILED
    try:
        if y is None:
            estimator.fit(X, **fit_params)
        else:
            estimator.fit(X, y, **fit_params)
        status = RunStatus.FINISHED
    except BaseException as exc:
        status = status_from_exception(exc)
        raise
    finally:
        record.completed = status is RunStatus.FINISHED
        record.write(status)
    return estimator
