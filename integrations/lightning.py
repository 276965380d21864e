"""PyTorch Lightning integration: :class:`JFrogMLLogger` and :class:`JFrogMLCallback`.

``JFrogMLLogger`` is a Lightning ``Logger`` that sends hyperparameters, metrics, the run status
and the best (or last) checkpoint to JFrog ML through MLflow's tracking API (normally a ``jfml``
tracking URI, whose store journals locally and syncs in the background)::

    trainer = Trainer(logger=JFrogMLLogger(experiment_name="mnist"))

``JFrogMLCallback`` gives the same run status, checkpoint-as-model-version and resume support to
a trainer that keeps other loggers (TensorBoard, CSV, W&B)::

    trainer = Trainer(logger=TensorBoardLogger("tb"), callbacks=[JFrogMLCallback("mnist")])

Behaviour worth knowing:

* **Never blocks, never raises.** ``log_metrics`` appends to an in-memory buffer; a background
  thread writes batches every ``flush_interval`` seconds (default 1 s, the durability window).
  Tracking errors become one warning each; training goes on.
* **Status.** FINISHED when the stage succeeds, FAILED on an exception, KILLED on
  ``KeyboardInterrupt`` or SIGTERM.
* **One run per stage that ends.** Lightning calls ``finalize("success")`` after ``fit`` and again
  after ``validate``/``test``. The first call ends the run. A finished run is never written to
  again: logging after it (e.g. ``trainer.test`` after ``trainer.fit``) opens a follow-up run
  named ``<run name>-<stage>`` in the same experiment, linked by ``mlflow.parentRunId``.
* **Resume.** The run id is saved in every checkpoint (the callback's ``state_dict``), so
  ``trainer.fit(ckpt_path=...)`` continues the same run. ``run_id=...`` does the same explicitly.
* **DDP.** Only rank 0 writes; the run id is broadcast to every rank (``logger.run_id``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from jfml_tracking.integrations._deps import install_hint
from jfml_tracking.integrations._models import (
    default_run_name,
    log_model_files,
    safe_model_name,
)
from jfml_tracking.integrations._params import config_json, flatten_params, to_mapping
from jfml_tracking.integrations._status import RunStatus, status_from_exception
from jfml_tracking.integrations._writer import (
    DEFAULT_FINISH_TIMEOUT,
    DEFAULT_FLUSH_INTERVAL,
    RunWriter,
)

try:
    from lightning.pytorch.callbacks import Callback
    from lightning.pytorch.loggers.logger import Logger, rank_zero_experiment
    from lightning.pytorch.utilities import rank_zero_only
    from typing_extensions import override
except ImportError as _exc:  # pragma: no cover - exercised without the extra installed
    raise ImportError(install_hint("lightning")) from _exc

if TYPE_CHECKING:
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import ModelCheckpoint
    from mlflow import MlflowClient
    from torch import Tensor
    from torch.nn import Module

__all__ = ["JFrogMLCallback", "JFrogMLLogger", "RunStatus"]

log = logging.getLogger("jfml_tracking.integrations")

LogModel = Literal["best", "last"] | bool
CONFIG_ARTIFACT = "config/hparams.json"
MODEL_TYPE = "lightning-checkpoint"
FRAMEWORK_TAG = "jfml.framework"
_STATE_KEY = "JFrogMLCallback"
_LIGHTNING_STATUS = {"success": RunStatus.FINISHED, "finished": RunStatus.FINISHED}


class JFrogMLLogger(Logger):
    """Lightning logger that writes to JFrog ML through MLflow's tracking API.

    Args:
        experiment_name: MLflow experiment, i.e. the JFrog ML model the runs belong to.
        run_name: name of the run (a JFrog ML experiment); a timestamped name when omitted.
        tracking_uri: e.g. ``jfml://acme`` or ``jfml+http://127.0.0.1:8080``; ``None`` uses
            MLflow's current tracking URI (``MLFLOW_TRACKING_URI``), read at the first write.
        tags: run tags (copied; your dict is not modified).
        run_id: continue this existing run instead of creating one.
        log_model: ``"best"`` (default) or ``"last"`` records that checkpoint as the run's model,
            which becomes a JFrog ML model version when the run finishes; ``False`` records none.
        model_name: name of that model (made safe for MLflow); defaults to the run name.
        flush_interval: seconds between metric batches; a crash loses at most this window.
        finish_timeout: seconds the end of a stage waits for pending writes.
    """

    def __init__(
        self,
        experiment_name: str = "lightning_logs",
        run_name: str | None = None,
        *,
        tracking_uri: str | None = None,
        tags: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        log_model: LogModel = "best",
        model_name: str | None = None,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        finish_timeout: float = DEFAULT_FINISH_TIMEOUT,
    ) -> None:
        super().__init__()
        if log_model not in ("best", "last", True, False):
            raise ValueError(f"log_model must be 'best', 'last', True or False, not {log_model!r}")
        self._experiment_name = experiment_name
        self._run_name = run_name or default_run_name("run")
        self._tags = {FRAMEWORK_TAG: "pytorch-lightning", **dict(tags or {})}
        self._tracking_uri = tracking_uri
        self._log_model: LogModel = "best" if log_model is True else log_model
        self._model_name = model_name
        self._flush_interval = flush_interval
        self._finish_timeout = finish_timeout
        self._writer = self._new_writer(self._run_name, run_id=run_id)
        self._pending_hparams: list[Any] = []
        self._ready = False  # True once pending set-up is handed to the writer
        self._shared_run_id: str | None = None  # the run id broadcast to ranks != 0
        self._checkpoint_callback: ModelCheckpoint | None = None
        self._finished_run_ids: list[str] = []

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_checkpoint_callback"] = None  # a weak proxy; the copy records its own
        return state

    def _new_writer(
        self, run_name: str, *, run_id: str | None = None, parent: str | None = None
    ) -> RunWriter:
        return RunWriter(
            tracking_uri=self._tracking_uri,
            experiment_name=self._experiment_name,
            run_name=run_name,
            tags=self._tags,
            run_id=run_id,
            parent_run_id=parent,
            flush_interval=self._flush_interval,
        )

    # -- identity (no I/O) ----------------------------------------------------------------

    @property
    @override
    def name(self) -> str:
        """The experiment name."""
        return self._experiment_name

    @property
    @override
    def version(self) -> str:
        """The run name (known without I/O; see :attr:`run_id` for MLflow's run id)."""
        return self._writer.run_name or self._run_name

    @property
    @override
    def save_dir(self) -> str | None:
        return None

    @property
    @rank_zero_experiment
    def experiment(self) -> MlflowClient | None:
        """The ``MlflowClient`` the logger writes with (the run itself stays lazy).

        ``None``, after a warning, when no client can be made for the tracking URI.
        """
        return self._writer.client_or_none()

    @property
    def run_id(self) -> str | None:
        """MLflow's id of the current run, creating the run if needed (on every rank under DDP)."""
        if rank_zero_only.rank != 0:
            return self._shared_run_id
        if self._writer.status is not None:  # ended: report it, don't open a follow-up run
            return self._writer.run_id_if_known
        return self._writer.ensure_run()

    @property
    def finished_run_ids(self) -> list[str]:
        """Ids of the runs this logger has ended, oldest first."""
        return list(self._finished_run_ids)

    # -- writes (rank zero only) ----------------------------------------------------------

    @override
    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Any, *args: Any, **kwargs: Any) -> None:
        """Record flattened hyperparameters as params and the full config as a JSON artifact."""
        try:
            snapshot = to_mapping(params)  # a copy: later changes by the caller don't leak in
        except TypeError as exc:
            log.warning("jfml: hyperparameters not logged: %s", exc)
            return
        self._pending_hparams.append(snapshot)
        if self._ready and self._writer.status is None:
            self._hand_over_hparams()

    @override
    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Buffer metrics for the writer thread; no I/O on the caller's thread."""
        if not self._ready:
            self._prepare()
        self._writer.log_metrics(metrics, 0 if step is None else step)

    @override
    @rank_zero_only
    def after_save_checkpoint(self, checkpoint_callback: ModelCheckpoint) -> None:
        """Remember the checkpoint callback; its best/last file is recorded at the end."""
        self._checkpoint_callback = checkpoint_callback

    @override
    def log_graph(self, model: Module, input_array: Tensor | None = None) -> None:
        """Lightning's per-stage set-up call on every rank; used to join the trainer.

        Attaches the run-id-keeping callback, resumes the run of a checkpoint being restored,
        opens a follow-up run when the previous one has finished, and broadcasts the run id.
        """
        trainer = getattr(model, "_trainer", None)
        if trainer is None:
            return
        try:
            _attach(self, trainer)
        except Exception as exc:
            log.warning("jfml: could not attach to the trainer: %s", exc)

    @override
    @rank_zero_only
    def finalize(self, status: str) -> None:
        """End the run: FINISHED on success, FAILED on an error, KILLED on an interrupt/SIGTERM."""
        exc = sys.exc_info()[1]
        if exc is None and status in _LIGHTNING_STATUS:
            run_status = _LIGHTNING_STATUS[status]
        else:
            run_status = status_from_exception(exc) if exc else RunStatus.FAILED
        self.end_run(run_status)

    def end_run(self, status: RunStatus) -> None:
        """End the current run with ``status`` (recording the model on success); idempotent."""
        writer = self._writer
        if writer.status is not None:
            return
        self._prepare()
        if status is RunStatus.FINISHED and self._log_model:
            self._submit_checkpoint(writer)
        writer.finish(status, self._finish_timeout)
        run_id = writer.run_id_if_known
        if run_id is not None:
            self._finished_run_ids.append(run_id)

    # -- internals ------------------------------------------------------------------------

    def _prepare(self) -> None:
        if self._writer.status is not None:
            self._follow_up(stage=None)
        if not self._ready:
            self._ready = True
            self._hand_over_hparams()

    def _hand_over_hparams(self) -> None:
        while self._pending_hparams:
            params = self._pending_hparams.pop(0)
            self._writer.log_params(flatten_params(params))
            self._writer.log_text(config_json(params), CONFIG_ARTIFACT)

    def _follow_up(self, stage: str | None) -> None:
        """Replace a finished run's writer by one for a new, linked run."""
        parent = self._finished_run_ids[-1] if self._finished_run_ids else None
        suffix = stage or f"part{len(self._finished_run_ids) + 1}"
        self._writer = self._new_writer(f"{self._run_name}-{suffix}", parent=parent)
        self._ready = False

    def _submit_checkpoint(self, writer: RunWriter) -> None:
        path = _checkpoint_path(self._checkpoint_callback, self._log_model)
        if path is None:
            return
        name = self._model_name or writer.run_name or self._run_name
        kind = str(self._log_model)

        def upload(client: MlflowClient, run_id: str) -> None:
            if not Path(path).exists():
                log.warning("jfml: checkpoint %s is gone; no model recorded", path)
                return
            log_model_files(
                client,
                run_id=run_id,
                experiment_id=str(writer.experiment_id),
                path=path,
                name=safe_model_name(name),
                model_type=MODEL_TYPE,
                tags={"jfml.checkpoint": kind, "jfml.checkpoint_file": Path(path).name},
            )

        writer.submit(upload, "record checkpoint as model")


def _checkpoint_path(callback: ModelCheckpoint | None, which: LogModel) -> str | None:
    if callback is None:
        return None
    try:
        best, last = callback.best_model_path, callback.last_model_path
    except ReferenceError:  # Lightning hands loggers a weak proxy
        return None
    ordered = (last, best) if which == "last" else (best, last)
    return next((p for p in ordered if p), None)


def _attach(logger: JFrogMLLogger, trainer: pl.Trainer) -> None:
    """Join ``trainer``: state callback, resume, follow-up run, run id on every rank."""
    if not any(
        isinstance(cb, JFrogMLCallback) and cb._logger is logger for cb in trainer.callbacks
    ):
        trainer.callbacks.append(JFrogMLCallback._bound_to(logger))
    if trainer.is_global_zero:
        if logger._writer.status is not None:
            logger._follow_up(stage=str(trainer.state.fn.value) if trainer.state.fn else None)
        resumed = _run_id_in_loaded_checkpoint(trainer)
        if resumed and not logger._writer.adopt_run_id(resumed):
            log.warning("jfml: checkpoint's run %s not continued: a run is already open", resumed)
        logger._prepare()
    if trainer.world_size > 1:
        own = logger._writer.ensure_run() if trainer.is_global_zero else None
        logger._shared_run_id = trainer.strategy.broadcast(own, src=0)


def _run_id_in_loaded_checkpoint(trainer: pl.Trainer) -> str | None:
    # The checkpoint being resumed was restored before loggers see the trainer, so our callback
    # (attached just now) missed load_state_dict; its state is still in the loaded checkpoint.
    loaded = getattr(getattr(trainer, "_checkpoint_connector", None), "_loaded_checkpoint", None)
    if not isinstance(loaded, Mapping):
        return None
    state = loaded.get("callbacks", {}).get(_STATE_KEY) or {}
    run_id = state.get("run_id")
    return run_id if isinstance(run_id, str) else None


class JFrogMLCallback(Callback):
    """JFrog ML runs and model versions for trainers that keep other loggers.

    With a :class:`JFrogMLLogger` on the trainer, the callback only keeps the logger's run id in
    checkpoints (the logger adds one itself). Otherwise it owns a run: it records the
    hyperparameters, the epoch-end metrics (``log_metrics=True``), the status and the best or
    last checkpoint as the run's model. Arguments are those of :class:`JFrogMLLogger`.
    """

    def __init__(
        self,
        experiment_name: str = "lightning_logs",
        run_name: str | None = None,
        *,
        tracking_uri: str | None = None,
        tags: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        log_model: LogModel = "best",
        log_metrics: bool = True,
        model_name: str | None = None,
    ) -> None:
        self._own = JFrogMLLogger(
            experiment_name,
            run_name,
            tracking_uri=tracking_uri,
            tags=tags,
            run_id=run_id,
            log_model=log_model,
            model_name=model_name,
        )
        self._logger: JFrogMLLogger = self._own
        self._bound = False
        self._log_metrics = log_metrics

    @classmethod
    def _bound_to(cls, logger: JFrogMLLogger) -> JFrogMLCallback:
        callback = cls.__new__(cls)
        callback._own = logger
        callback._logger = logger
        callback._bound = True
        callback._log_metrics = False
        return callback

    @property
    def logger(self) -> JFrogMLLogger:
        """The logger whose run this callback records into."""
        return self._logger

    @property
    @override
    def state_key(self) -> str:
        return _STATE_KEY

    @override
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Bind to a JFrogMLLogger on the trainer, or share this callback's own run id."""
        for candidate in trainer.loggers:
            if isinstance(candidate, JFrogMLLogger):
                self._logger, self._bound = candidate, True
                return
        if self._bound:
            return
        if trainer.is_global_zero and self._logger._writer.status is not None:
            self._logger._follow_up(stage=stage)
        if trainer.world_size > 1:
            own = self._logger._writer.ensure_run() if trainer.is_global_zero else None
            self._logger._shared_run_id = trainer.strategy.broadcast(own, src=0)

    @override
    @rank_zero_only
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Record the module's hyperparameters (when this callback owns the run)."""
        if not self._bound and pl_module.hparams_initial:
            self._logger.log_hyperparams(pl_module.hparams_initial)

    @override
    @rank_zero_only
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Record the epoch's metrics (when this callback owns the run)."""
        if self._log_metrics and not self._bound and not trainer.sanity_checking:
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
            self._logger.log_metrics(metrics, trainer.global_step)

    @override
    @rank_zero_only
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """End the own run FINISHED, recording the best or last checkpoint as its model."""
        if not self._bound:
            self._logger._checkpoint_callback = trainer.checkpoint_callback
            self._logger.end_run(RunStatus.FINISHED)

    @override
    @rank_zero_only
    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        """End the own run FAILED, or KILLED for an interrupt or SIGTERM."""
        if not self._bound:
            self._logger.end_run(status_from_exception(exception))

    @override
    def state_dict(self) -> dict[str, Any]:
        """The run id, so that ``trainer.fit(ckpt_path=...)`` continues the same run."""
        run_id = self._logger.run_id  # rank 0 opens the run if no write has yet
        return {"run_id": run_id} if run_id else {}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Continue the checkpoint's run (unless a different run is already open)."""
        run_id = state_dict.get("run_id")
        if isinstance(run_id, str) and not self._logger._writer.adopt_run_id(run_id):
            log.warning("jfml: checkpoint's run %s not continued: a run is already open", run_id)
