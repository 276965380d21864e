"""Lightning logging overhead: time per training step of a tiny model that logs every step.

The figure is the process's CPU time per step (all its threads: training, the logger's writer,
the store's sync): on a shared machine wall time mostly measures other processes, while CPU time
is what logging costs this process. Wall-clock rows are reported beside it.

Configurations, measured in one process, interleaved over several rounds in rotating order,
best round kept: no logger, JFrogMLLogger (through the ``jfml+http`` store into a local
reference server; plain SQLite when that store is missing), MLFlowLogger (SQLite), CSVLogger.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Row

STEPS = 200  # measured steps per fit
WARMUP = 50  # steps before the clock starts
ROUNDS = 8


def _quiet() -> None:
    import torch

    torch.set_num_threads(1)  # one intra-op thread: CPU time then counts our work, not spinning
    warnings.filterwarnings("ignore")
    for name in ("lightning", "lightning.pytorch", "mlflow"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _module() -> Any:
    import lightning.pytorch as pl
    import torch

    class Tiny(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(8, 1)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            self.log("loss", loss)
            self.log("lr", 0.01)
            return loss

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    return Tiny


def _loader() -> Any:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    x = torch.randn(256, 8)
    return DataLoader(TensorDataset(x, x.sum(dim=1, keepdim=True)), batch_size=4)


def _time_per_step(make_logger: Callable[[], Any], root: Path) -> tuple[float, float]:
    """(process CPU seconds, wall seconds) per training step."""
    import lightning.pytorch as pl

    clock: dict[str, tuple[float, float]] = {}

    def now() -> tuple[float, float]:
        return time.process_time(), time.perf_counter()

    class Clock(pl.Callback):
        def on_train_batch_start(self, trainer: Any, *args: Any) -> None:
            if trainer.global_step == WARMUP:
                clock["start"] = now()

        def on_train_end(self, trainer: Any, *args: Any) -> None:
            clock["end"] = now()

    trainer = pl.Trainer(
        logger=make_logger(),
        max_steps=WARMUP + STEPS,
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        callbacks=[Clock()],
        default_root_dir=str(root),
        accelerator="cpu",
        devices=1,
    )
    trainer.fit(_module()(), _loader())
    # on_train_end comes before the loggers' finalize, so the end-of-run flush is not counted:
    # this measures what training pays per step.
    (cpu0, wall0), (cpu1, wall1) = clock["start"], clock["end"]
    return (cpu1 - cpu0) / STEPS, (wall1 - wall0) / STEPS


def _jfml_uri(stack: list[Callable[[], None]], home: Path) -> tuple[str, str]:
    if importlib.util.find_spec("jfml_tracking.mlflow_plugin.tracking_store") is None:
        return f"sqlite:///{home / 'jfml-fallback.db'}", "JFrogMLLogger (sqlite fallback)"
    from jfml_tracking.server.embedded import start_server

    server = start_server(db_url=f"sqlite:///{home / 'server.db'}", tokens=("bench-token",))
    stack.append(server.stop)
    os.environ["JF_ACCESS_TOKEN"] = server.token
    os.environ["JFML_HOME"] = str(home / "jfml_home")
    return "jfml+http://" + server.url.split("://", 1)[1], "JFrogMLLogger"


def run() -> list[Row]:
    _quiet()
    from jfml_tracking.integrations.lightning import JFrogMLLogger
    from lightning.pytorch.loggers import CSVLogger, MLFlowLogger

    cleanup: list[Callable[[], None]] = []
    with tempfile.TemporaryDirectory(prefix="bench-lightning-") as tmp:
        root = Path(tmp)
        uri, label = _jfml_uri(cleanup, root)
        configs: dict[str, Callable[[], Any]] = {
            "none": lambda: False,
            "jfml": lambda: JFrogMLLogger("bench", tracking_uri=uri, log_model=False),
            "mlflow": lambda: MLFlowLogger("bench", tracking_uri=f"sqlite:///{root / 'ml.db'}"),
            "csv": lambda: CSVLogger(str(root / "csv")),
        }
        cpu = {name: float("inf") for name in configs}
        wall = dict(cpu)
        try:
            for make in configs.values():  # warm-up: imports, DB schemas
                _time_per_step(make, root)
            names = list(configs)
            for round_ in range(ROUNDS):
                # Rotate the order so that no configuration always follows the same one.
                for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                    step_cpu, step_wall = _time_per_step(configs[name], root)
                    cpu[name] = min(cpu[name], step_cpu)
                    wall[name] = min(wall[name], step_wall)
        finally:
            for stop in cleanup:
                stop()
    ms = {name: value * 1000 for name, value in cpu.items()}
    wall_ms = {name: value * 1000 for name, value in wall.items()}
    return [
        Row(
            "lightning",
            f"{label}, CPU per step",
            ms["jfml"],
            "no logger",
            ms["none"],
            "<= 1.02x",
            "ms",
        ),
        Row(
            "lightning",
            f"{label}, CPU per step",
            ms["jfml"],
            "MLFlowLogger (sqlite)",
            ms["mlflow"],
            "<= 1.0x",
            "ms",
        ),
        Row(
            "lightning",
            "MLFlowLogger (sqlite), CPU per step",
            ms["mlflow"],
            "no logger",
            ms["none"],
            "",
            "ms",
        ),
        Row("lightning", "CSVLogger, CPU per step", ms["csv"], "no logger", ms["none"], "", "ms"),
        Row(
            "lightning",
            f"{label}, wall per step",
            wall_ms["jfml"],
            "no logger",
            wall_ms["none"],
            "",
            "ms",
        ),
        Row(
            "lightning",
            f"{label}, wall per step",
            wall_ms["jfml"],
            "MLFlowLogger (sqlite)",
            wall_ms["mlflow"],
            "",
            "ms",
        ),
    ]


if __name__ == "__main__":
    for row in run():
        print(
            f"{row.measure}: {row.ours:.3f} {row.unit} vs {row.peer_name} {row.peer:.3f} "
            f"= {row.ratio:.3f}x (target {row.target or '-'})"
        )
