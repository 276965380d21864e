"""``ProcessRuntime``: the reference server's real deployment runtime."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jfml_tracking.api import DeploymentStatus
from jfml_tracking.server.runtime import DeploymentSpec, RuntimeState
from jfml_tracking.server.serving._deployment import (
    ServedDeployment,
    ServingLimits,
    Worker,
    spawned_worker,
)
from jfml_tracking.server.serving._process import WorkerFailed, worker_environment

__all__ = ["ProcessRuntime", "invocations_url"]

_log = logging.getLogger("jfml_tracking.server.serving")


def invocations_url(base_url: str, deployment_id: str) -> str:
    """Where a deployment answers predictions, given the server's base URL."""
    return f"{base_url.rstrip('/')}/serving/v1/deployments/{deployment_id}/invocations"


class ProcessRuntime:
    """Serves each deployment from ``replicas`` worker processes running MLflow's scorer.

    Workers are forked from a *zygote*, a process that imported MLflow once, so a worker only
    loads its model (Linux; ``fork_workers=False`` or ``JFML_SERVING_FORK=0`` spawns each
    worker as a fresh process instead).

    ``start`` returns ``deploying`` at once; a background thread loads the model in every
    replica and turns the deployment ``active``, or ``failed`` with the reason. A monitor
    thread checks the workers each ``limits.health_interval`` seconds (process alive, and an
    HTTP ping every few ticks) and restarts a crashed one, at most ``limits.max_restarts`` times
    per deployment; past that the deployment turns ``failed``. Deployments are independent:
    one failing never disturbs the others.
    """

    def __init__(
        self,
        *,
        limits: ServingLimits | None = None,
        workdir: str | os.PathLike[str] | None = None,
        fork_workers: bool | None = None,
    ) -> None:
        self.limits = limits or ServingLimits()
        self._own_workdir = workdir is None
        self._given_workdir = Path(workdir) if workdir is not None else None
        self._workdir_lock = threading.Lock()
        self._deployments: dict[str, ServedDeployment] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._monitor: threading.Thread | None = None
        self._app: Any | None = None
        self._fork = fork_workers
        self._zygote: Any | None = None
        self._zygote_lock = threading.Lock()

    def start(self, spec: DeploymentSpec, *, base_url: str) -> RuntimeState:
        served = ServedDeployment(
            spec,
            endpoint_url=invocations_url(base_url, spec.deployment_id),
            workdir=self._workdir / spec.deployment_id,
            limits=self.limits,
            base_env=dict(os.environ),
            worker_factory=self._new_worker,
        )
        with self._lock:
            if self._closed.is_set():
                raise RuntimeError("the serving runtime is closed")
            previous = self._deployments.pop(spec.deployment_id, None)
            self._deployments[spec.deployment_id] = served
            self._ensure_monitor()
        if previous is not None:
            previous.stop()
        self._spawn(served.bring_up, f"jfml-deploy-{spec.deployment_id}")
        return served.state()

    def stop(self, deployment_id: str) -> None:
        with self._lock:
            served = self._deployments.pop(deployment_id, None)
        if served is not None:
            served.stop()
            shutil.rmtree(self._workdir / deployment_id, ignore_errors=True)

    def describe(self, deployment_id: str) -> RuntimeState | None:
        served = self.get(deployment_id)
        return served.state() if served else None

    def get(self, deployment_id: str) -> ServedDeployment | None:
        with self._lock:
            return self._deployments.get(deployment_id)

    @property
    def _workdir(self) -> Path:
        """Where workers keep their logs; a temp dir made on first use unless one was given."""
        with self._workdir_lock:
            if self._given_workdir is None:
                self._given_workdir = Path(tempfile.mkdtemp(prefix="jfml-serving-"))
            return self._given_workdir

    @property
    def zygote_pid(self) -> int | None:
        """Process id of the zygote workers fork from, if one runs (for operators and tests)."""
        zygote = self._zygote
        return zygote.pid if zygote is not None and zygote.alive else None

    def asgi_app(self) -> Any:
        if self._app is None:
            from jfml_tracking.server.serving._proxy import build_proxy_app

            self._app = build_proxy_app(self)
        return self._app

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            served, self._deployments = list(self._deployments.values()), {}
        for item in served:
            item.stop()
        if self._monitor is not None:
            self._monitor.join(timeout=5)
        with self._zygote_lock:
            zygote, self._zygote = self._zygote, None
        if zygote is not None:
            zygote.close()
        if self._own_workdir and self._given_workdir is not None:
            shutil.rmtree(self._given_workdir, ignore_errors=True)

    def __enter__(self) -> ProcessRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals --------------------------------------------------------------------------

    def _new_worker(self, model_uri: str, env: Any, workdir: Path) -> Worker:
        """A worker forked from the zygote (MLflow already imported), else a fresh process."""
        zygote = self._live_zygote()
        if zygote is None:
            return spawned_worker(model_uri, env, workdir)
        from jfml_tracking.server.serving._forked import ForkedWorker

        return ForkedWorker(model_uri, env=env, workdir=workdir, zygote=zygote)

    def _live_zygote(self) -> Any | None:
        from jfml_tracking.server.serving._forked import Zygote, zygote_supported

        if self._fork is False or (self._fork is None and not zygote_supported()):
            return None
        with self._zygote_lock:
            if self._closed.is_set():
                return None
            if self._zygote is not None and self._zygote.alive:
                return self._zygote
            if self._zygote is not None:
                self._zygote.close()
            env = worker_environment(os.environ)
            if "JFML_SERVING_PRELOAD" in os.environ:  # the one JFML_ setting it needs
                env["JFML_SERVING_PRELOAD"] = os.environ["JFML_SERVING_PRELOAD"]
            zygote = Zygote(env=env, workdir=self._workdir / "zygote")
            try:
                zygote.start(self.limits.start_timeout)
            except (WorkerFailed, OSError, ValueError) as exc:
                _log.warning("serving: no zygote (%s); workers start as fresh processes", exc)
                self._fork = False
                return None
            self._zygote = zygote
            return zygote

    def _ensure_monitor(self) -> None:
        if self._monitor is None:
            self._monitor = threading.Thread(
                target=self._watch, name="jfml-serving-monitor", daemon=True
            )
            self._monitor.start()

    def _watch(self) -> None:
        while not self._closed.wait(self.limits.health_interval):
            with self._lock:
                served = list(self._deployments.values())
            for item in served:
                if item.state().status is DeploymentStatus.ACTIVE:
                    try:
                        item.check_health(self._spawn_recovery)
                    except Exception:  # the monitor must outlive any one deployment's trouble
                        _log.exception("health check of %s failed", item.spec.deployment_id)

    def _spawn_recovery(self, job: Callable[[], None]) -> None:
        self._spawn(job, "jfml-serving-recover")

    @staticmethod
    def _spawn(job: Callable[[], None], name: str) -> None:
        threading.Thread(target=job, name=name, daemon=True).start()
