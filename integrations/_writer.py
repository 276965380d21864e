"""One MLflow run, written from a background thread so that the training thread never waits.

The training thread only appends ``(key, value, timestamp, step)`` tuples to a deque (a few
microseconds). A daemon thread hands them to the tracking store in batches every
``flush_interval`` seconds, and runs the other writes (params, tags, artifacts, models, the final
status) in the order they were submitted. With a ``jfml`` tracking URI the store journals each
batch durably before ``log_batch`` returns, so a ``kill -9`` loses at most the metrics of the last
``flush_interval`` seconds. Failures are logged as warnings and never raised into training.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from jfml_tracking.integrations._status import RunStatus

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["DEFAULT_FINISH_TIMEOUT", "DEFAULT_FLUSH_INTERVAL", "RunWriter"]

log = logging.getLogger("jfml_tracking.integrations")

DEFAULT_FLUSH_INTERVAL = 1.0  # seconds: the durability window for buffered metrics
DEFAULT_FINISH_TIMEOUT = 30.0  # seconds the end of a run waits for pending writes
_STOP = object()

Op = Callable[["MlflowClient", str], object]


class RunWriter:
    """Owns one MLflow run: creates or resumes it lazily and writes to it off the caller's thread.

    Args:
        tracking_uri: where the run goes; ``None`` means MLflow's current tracking URI, read at the
            first write (never at construction).
        experiment_name: MLflow experiment (a JFrog ML model) to create the run in.
        run_name: the run's name; MLflow picks one when ``None``.
        tags: run tags; copied, never mutated.
        run_id: an existing run to continue instead of creating one.
        parent_run_id: makes the new run a child of this run (``mlflow.parentRunId``).
        flush_interval: seconds between metric batches; the durability window.
    """

    def __init__(
        self,
        *,
        tracking_uri: str | None = None,
        experiment_name: str = "Default",
        run_name: str | None = None,
        tags: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        parent_run_id: str | None = None,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.experiment_name = experiment_name
        self.run_name = run_name
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}
        self.flush_interval = flush_interval
        self._run_id = run_id
        self._parent_run_id = parent_run_id
        self._experiment_id: str | None = None
        self._client: MlflowClient | None = None
        self._run_ready = False
        self._broken = False
        self._lock = threading.RLock()
        self._metrics: deque[tuple[str, float, int, int]] = deque()
        self._ops: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned: set[str] = set()
        self.status: RunStatus | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Pickled copies (ddp_spawn, deepcopy) get the configuration and the run id; locks,
        # the thread and unsent points stay with the original.
        return {
            "tracking_uri": self.tracking_uri,
            "experiment_name": self.experiment_name,
            "run_name": self.run_name,
            "tags": self.tags,
            "run_id": self._run_id,
            "parent_run_id": self._parent_run_id,
            "flush_interval": self.flush_interval,
            "status": self.status,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        status = state.pop("status")
        self.__init__(**state)  # type: ignore[misc]
        self.status = status  # a copy of an ended run stays ended (never reopened by a read)

    # -- the hot path ---------------------------------------------------------------------

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Buffer metrics for the next batch; O(len(metrics)) appends, no I/O, never raises."""
        ts = int(time.time() * 1000)
        append = self._metrics.append
        for key, value in metrics.items():
            append((key, value, ts, step))
        if self._thread is None:
            self._start()

    # -- ordered background writes --------------------------------------------------------

    def submit(self, op: Op, what: str) -> None:
        """Run ``op(client, run_id)`` on the writer thread, after everything submitted before."""
        self._ops.put((op, what))
        if self._thread is None:
            self._start()
        self._wake.set()

    def log_params(self, params: Mapping[str, str]) -> None:
        from mlflow.entities import Param
        from mlflow.utils.validation import MAX_PARAMS_TAGS_PER_BATCH

        items = [Param(k, v) for k, v in params.items()]

        def op(client: MlflowClient, run_id: str) -> None:
            for i in range(0, len(items), MAX_PARAMS_TAGS_PER_BATCH):
                client.log_batch(run_id, params=items[i : i + MAX_PARAMS_TAGS_PER_BATCH])

        self.submit(op, "log params")

    def set_tags(self, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        items = [RunTag(k, str(v)) for k, v in tags.items()]
        self.submit(lambda client, run_id: client.log_batch(run_id, tags=items), "set tags")

    def log_text(self, text: str, artifact_file: str) -> None:
        self.submit(lambda client, run_id: client.log_text(run_id, text, artifact_file), "log text")

    # -- run lifecycle --------------------------------------------------------------------

    @property
    def client(self) -> MlflowClient:
        """The MLflow client for :attr:`tracking_uri` (created on first use)."""
        with self._lock:
            if self._client is None:
                import mlflow

                self._client = mlflow.MlflowClient(tracking_uri=self.tracking_uri)
            return self._client

    def client_or_none(self) -> MlflowClient | None:
        """:attr:`client`, or ``None`` after a warning when it cannot be made."""
        try:
            return self.client
        except Exception as exc:
            self._broken = True
            self._warn("open tracking store", exc, "tracking is off")
            return None

    @property
    def run_id_if_known(self) -> str | None:
        return self._run_id

    @property
    def experiment_id(self) -> str | None:
        return self._experiment_id

    def ensure_run(self) -> str | None:
        """Create (or look up, when resuming) the run; its id, or ``None`` after a warning."""
        with self._lock:
            if self._run_ready:
                return self._run_id
            if self._broken:
                return None
            try:
                self._open_run()
            except Exception as exc:
                self._broken = True
                self._warn("open the MLflow run", exc, "tracking is off")
                return None
            self._run_ready = True
            return self._run_id

    def _open_run(self) -> None:
        client = self.client
        if self._run_id is not None:
            run = client.get_run(self._run_id)
            self._experiment_id = run.info.experiment_id
            if run.info.status != RunStatus.RUNNING.value:
                client.update_run(self._run_id, status=RunStatus.RUNNING.value)
            return
        self._experiment_id = _experiment_id_for(client, self.experiment_name)
        tags = dict(self.tags)
        if self._parent_run_id:
            tags["mlflow.parentRunId"] = self._parent_run_id
        run = client.create_run(self._experiment_id, run_name=self.run_name, tags=tags)
        self._run_id = run.info.run_id
        self.run_name = run.info.run_name

    def adopt_run_id(self, run_id: str) -> bool:
        """Continue ``run_id`` instead of creating a run; False once a run is already open."""
        with self._lock:
            if self._run_ready and self._run_id != run_id:
                return False
            self._run_id = run_id
            return True

    def finish(self, status: RunStatus, timeout: float = DEFAULT_FINISH_TIMEOUT) -> bool:
        """Flush, end the run with ``status`` and wait up to ``timeout`` s; True when all landed."""
        if self.status is not None:
            return True
        self.status = status
        if self._thread is None and not self._run_ready:
            return True  # nothing was ever logged: no run to end
        self.submit(
            lambda client, run_id: client.set_terminated(run_id, status=status.value), "end run"
        )
        done = self.flush(timeout)
        if done:
            self.close(timeout)
        return done

    def flush(self, timeout: float = DEFAULT_FINISH_TIMEOUT) -> bool:
        """Wait until everything submitted so far is written, at most ``timeout`` seconds."""
        if self._thread is None:
            return True
        marker = threading.Event()
        self._ops.put((marker, "flush"))
        self._wake.set()
        done = marker.wait(timeout)
        if not done:
            log.warning(
                "jfml: %d metric points and some writes still pending after %.0f s; "
                "they continue in the background until the process exits",
                len(self._metrics),
                timeout,
            )
        return done

    # -- the writer thread ----------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._loop, name="jfml-run-writer", daemon=True)
            self._thread.start()
            _LIVE.add(self)

    def _loop(self) -> None:
        while True:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            self._write_metrics()
            if self._drain_ops() is _STOP:
                return

    def _drain_ops(self) -> object:
        while True:
            try:
                op, what = self._ops.get_nowait()
            except queue.Empty:
                return None
            self._write_metrics()  # keep metrics ahead of the ops that follow them
            if op is _STOP:
                return _STOP
            if isinstance(op, threading.Event):
                op.set()  # a flush() waiting for everything before this point
            else:
                self._run_op(op, what)

    def _run_op(self, op: Op, what: str) -> None:
        run_id = self.ensure_run()
        if run_id is None:
            return
        try:
            op(self.client, run_id)
        except Exception as exc:
            self._warn(what, exc)

    def _write_metrics(self) -> None:
        if not self._metrics:
            return
        from mlflow.utils.validation import MAX_METRICS_PER_BATCH

        pending = self._metrics
        points = [pending.popleft() for _ in range(len(pending))]
        run_id = self.ensure_run()
        if run_id is None:
            return
        write = self._metric_writer()
        for i in range(0, len(points), MAX_METRICS_PER_BATCH):
            try:
                write(run_id, points[i : i + MAX_METRICS_PER_BATCH])
            except Exception as exc:
                self._warn("log metrics", exc)

    def _metric_writer(self) -> Callable[[str, list[tuple[str, float, int, int]]], None]:
        """How to hand a batch of points to the store, as cheaply as the store allows.

        This thread competes with training for the GIL, so every microsecond per point counts.
        ``MlflowClient.log_batch`` rebuilds each point as a ``Metric`` and validates it again
        (~35 us/point); the jfml store's own ``log_batch`` (the tracking-store API) validates
        with a per-key cache and takes plain named tuples (~10 us/point).
        """
        store = getattr(getattr(self.client, "_tracking_client", None), "store", None)
        if store is not None and hasattr(store, "journal"):

            def to_store(run_id: str, points: list[tuple[str, float, int, int]]) -> None:
                batch = [_Point(k, float(v), ts, step) for k, v, ts, step in points]
                store.log_batch(run_id, batch, [], [])

            return to_store
        from mlflow.entities import Metric

        def to_client(run_id: str, points: list[tuple[str, float, int, int]]) -> None:
            batch = [Metric(k, float(v), ts, step) for k, v, ts, step in points]
            self.client.log_batch(run_id, metrics=batch)

        return to_client

    def _warn(self, what: str, exc: Exception, effect: str = "training continues") -> None:
        # One warning per kind of write: a broken store must not flood the training log.
        if what not in self._warned:
            self._warned.add(what)
            log.warning("jfml: %s failed (%s): %s", what, effect, exc)

    def close(self, timeout: float = DEFAULT_FINISH_TIMEOUT) -> None:
        """Flush and stop the writer thread (the run's status is left as it is)."""
        if self._thread is None:
            return
        self.flush(timeout)
        self._ops.put((_STOP, "stop"))
        self._wake.set()
        self._thread.join(timeout)
        _LIVE.discard(self)


def _experiment_id_for(client: MlflowClient, name: str) -> str:
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException:
        # Another process created it between our lookup and create.
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


class _Point(NamedTuple):
    """A metric point with the attributes the jfml store reads from ``Metric``."""

    key: str
    value: float
    timestamp: int
    step: int
    model_id: None = None
    dataset_name: None = None
    dataset_digest: None = None


_LIVE: weakref.WeakSet[RunWriter] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    # Bounded: a dead store must not hang the interpreter's exit.
    for writer in list(_LIVE):
        writer.flush(timeout=5.0)
