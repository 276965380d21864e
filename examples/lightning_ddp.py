"""Lightning DDP on 2 CPU processes (gloo) with JFrogMLLogger: exactly one run, on rank 0.

Only rank 0 writes; the run id is broadcast, so every rank knows it (and saves it in
checkpoints, for ``trainer.fit(ckpt_path=...)`` to continue the same run). The best checkpoint
becomes a JFrog ML model version when the run finishes.

    python examples/lightning_ddp.py
"""

from __future__ import annotations

import warnings

import lightning.pytorch as pl
import torch
from _local_server import demo_dir, flush, jfrog_ml
from jfml_tracking.integrations.lightning import JFrogMLLogger
from torch.utils.data import DataLoader, TensorDataset

EXPERIMENT = "examples-lightning-ddp"


class Regressor(pl.LightningModule):
    def __init__(self, lr: float = 0.05, hidden: int = 8) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(4, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)
        )

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def synthetic_data(n: int = 128) -> DataLoader:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=gen)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    return DataLoader(TensorDataset(x, y), batch_size=16)


def main() -> None:
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    logger = JFrogMLLogger(EXPERIMENT, "ddp-2-ranks", tags={"strategy": "ddp"})
    trainer = pl.Trainer(
        strategy="ddp",
        accelerator="cpu",
        devices=2,
        max_epochs=2,
        logger=logger,
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(demo_dir() / "lightning"),
    )
    trainer.fit(Regressor(), synthetic_data())
    print(f"rank {trainer.global_rank}: run {logger.run_id}", flush=True)
    if trainer.is_global_zero:
        print(f"{flush()} item(s) still pending for JFrog ML", flush=True)


if __name__ == "__main__":
    with jfrog_ml():
        main()
