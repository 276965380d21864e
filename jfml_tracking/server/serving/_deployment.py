"""One served deployment: its replicas, its state, round-robin choice and crash recovery."""

from __future__ import annotations

import functools
import itertools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from jfml_tracking.api import DeploymentStatus
from jfml_tracking.server.runtime import DeploymentSpec, RuntimeState
from jfml_tracking.server.serving._artifacts import ArtifactProblem, check_artifact
from jfml_tracking.server.serving._process import WorkerFailed, WorkerProcess, worker_environment

__all__ = ["ServedDeployment", "ServingLimits", "Worker", "WorkerFactory"]

_log = logging.getLogger("jfml_tracking.server.serving")


@dataclass(frozen=True)
class ServingLimits:
    """Bounds on start-up and recovery; the defaults suit a laptop and CI."""

    start_timeout: float = 180.0
    max_restarts: int = 3
    health_interval: float = 1.0
    ping_every: int = 5  # health ticks between HTTP pings
    ping_timeout: float = 5.0
    ping_failures: int = 2  # consecutive failed pings before a live worker counts as hung


class Worker(Protocol):
    """A serving worker: ``WorkerProcess`` (spawned) or ``ForkedWorker`` (from the zygote)."""

    port: int | None
    model_uri: str

    def launch(self) -> None: ...
    def wait_ready(self, timeout: float) -> int: ...
    def alive(self) -> bool: ...
    @property
    def pid(self) -> int | None: ...
    def ping(self, timeout: float = 2.0) -> bool: ...
    def exit_description(self) -> str: ...
    def stop(self) -> None: ...


WorkerFactory = Callable[[str, Mapping[str, str], Path], Worker]


def spawned_worker(model_uri: str, env: Mapping[str, str], workdir: Path) -> Worker:
    return WorkerProcess(model_uri, env=env, workdir=workdir)


class ServedDeployment:
    """The workers of one deployment. Thread-safe; the runtime drives it."""

    def __init__(
        self,
        spec: DeploymentSpec,
        *,
        endpoint_url: str,
        workdir: Path,
        limits: ServingLimits,
        base_env: dict[str, str],
        worker_factory: WorkerFactory = spawned_worker,
    ) -> None:
        self.spec = spec
        self.endpoint_url = endpoint_url
        self._workdir = workdir
        self._limits = limits
        self._env = worker_environment(base_env, spec.resources)
        self._new_worker = worker_factory
        self._lock = threading.Lock()
        self._workers: list[Worker] = []
        self._status = DeploymentStatus.DEPLOYING
        self._reason: str | None = None
        self._restarts = 0
        self._recovering: set[int] = set()
        self._missed_pings: dict[int, int] = {}
        self._ticks = 0
        self._rr = itertools.count()
        self._stopped = False

    # --- state ------------------------------------------------------------------------------

    def state(self) -> RuntimeState:
        with self._lock:
            return RuntimeState(self._status, endpoint_url=self.endpoint_url, reason=self._reason)

    def worker_pids(self) -> list[int]:
        """Process ids of the current workers (for operators and tests)."""
        with self._lock:
            return [w.pid for w in self._workers if w.pid is not None]

    def ports(self) -> list[int]:
        """Ports of the live workers, rotated for round-robin; empty unless ``active``."""
        with self._lock:
            if self._status is not DeploymentStatus.ACTIVE:
                return []
            ports = [
                w.port
                for i, w in enumerate(self._workers)
                if w.port is not None and i not in self._recovering and w.alive()
            ]
        if not ports:
            return []
        shift = next(self._rr) % len(ports)
        return ports[shift:] + ports[:shift]

    # --- lifecycle --------------------------------------------------------------------------

    def bring_up(self) -> None:
        """Check the artifact, start every replica, wait for all; ends active or failed."""
        try:
            self._bring_up()
        except Exception as exc:  # never leave a deployment stuck in ``deploying``
            _log.exception("starting deployment %s failed", self.spec.deployment_id)
            self._fail(f"could not start workers: {type(exc).__name__}: {exc}")

    def _bring_up(self) -> None:
        try:
            model_uri = check_artifact(self.spec.artifact_path)
        except ArtifactProblem as exc:
            self._fail(str(exc))
            return
        workers = [
            self._new_worker(model_uri, self._env, self._replica_dir(i))
            for i in range(max(1, self.spec.replicas))
        ]
        with self._lock:
            if self._stopped:
                return
            self._workers = workers
            for worker in workers:
                worker.launch()
        deadline = time.monotonic() + self._limits.start_timeout
        try:
            for worker in workers:
                worker.wait_ready(max(0.1, deadline - time.monotonic()))
        except WorkerFailed as exc:
            self._fail(f"model failed to load: {exc}")
            return
        with self._lock:
            if self._stopped:
                return
            self._status = DeploymentStatus.ACTIVE
        _log.info("deployment %s active with %d worker(s)", self.spec.deployment_id, len(workers))

    def stop(self) -> None:
        """Stop every worker; idempotent."""
        with self._lock:
            self._stopped = True
            workers, self._workers = self._workers, []
            if self._status is not DeploymentStatus.FAILED:
                self._status = DeploymentStatus.STOPPED
        for worker in workers:
            worker.stop()

    def _fail(self, reason: str) -> None:
        with self._lock:
            if self._stopped:
                return
            self._status = DeploymentStatus.FAILED
            self._reason = reason
            workers, self._workers = self._workers, []
        _log.warning("deployment %s failed: %s", self.spec.deployment_id, reason)
        for worker in workers:
            worker.stop()

    # --- health -----------------------------------------------------------------------------

    def check_health(self, spawn: Callable[[Callable[[], None]], None]) -> None:
        """One health tick: find dead or unresponsive workers and recover them via ``spawn``."""
        with self._lock:
            if self._status is not DeploymentStatus.ACTIVE:
                return
            self._ticks += 1
            do_ping = self._ticks % self._limits.ping_every == 0
            candidates = [(i, w) for i, w in enumerate(self._workers) if i not in self._recovering]
        for index, worker in candidates:
            if self._healthy(index, worker, do_ping):
                continue
            with self._lock:
                if index in self._recovering or self._stopped:
                    continue
                self._recovering.add(index)
                self._missed_pings.pop(index, None)
            spawn(functools.partial(self._recover, index, worker))

    def _healthy(self, index: int, worker: Worker, do_ping: bool) -> bool:
        """Alive, and (when pinged) answering; a slow answer is forgiven once."""
        if not worker.alive():
            return False
        if not do_ping:
            return True
        if worker.ping(self._limits.ping_timeout):
            self._missed_pings.pop(index, None)
            return True
        missed = self._missed_pings.get(index, 0) + 1
        self._missed_pings[index] = missed
        return missed < self._limits.ping_failures

    def _recover(self, index: int, worker: Worker) -> None:
        why = worker.exit_description() if not worker.alive() else "worker stopped answering"
        with self._lock:
            budget_left = self._restarts < self._limits.max_restarts
            if budget_left:
                self._restarts += 1
        if not budget_left:
            self._fail(f"{why}; gave up after {self._limits.max_restarts} restart(s)")
            return
        _log.warning("deployment %s: %s; restarting it", self.spec.deployment_id, why)
        worker.stop()
        # A new worker rather than the old handle relaunched: the zygote it came from may be
        # what died.
        replacement = self._new_worker(worker.model_uri, self._env, self._replica_dir(index))
        try:
            replacement.launch()
            replacement.wait_ready(self._limits.start_timeout)
        except (WorkerFailed, OSError) as exc:
            replacement.stop()
            self._fail(f"{why}; restart failed: {exc}")
            return
        with self._lock:
            self._recovering.discard(index)
            if self._stopped:
                replacement.stop()
            else:
                self._workers[index] = replacement

    def _replica_dir(self, index: int) -> Path:
        return self._workdir / f"replica-{index}"
