"""The whole flow in one script (``make demo``): train, track, register, deploy, predict.

1. Uses the JFrog ML server in ``JF_URL`` or starts the local reference server.
2. Trains a scikit-learn pipeline (tracked by ``JFrogMLCallback``) and a Lightning model
   (tracked by ``JFrogMLLogger``); each run becomes a JFrog ML experiment and each model a
   model version.
3. Registers the scikit-learn model with MLflow's registry, deploys it with
   ``mlflow deployments`` (target ``jfml``) and asks the deployment for predictions.
4. Prints the JFrog ML models, versions and experiments it created, and how to look at them.

Runs in well under a minute on a laptop CPU; data is bundled with scikit-learn or synthetic.

    python examples/quickstart.py            # or: make demo
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from typing import Any

import lightning.pytorch as pl
import mlflow
import torch
from _local_server import demo_dir, flush, jfrog_ml
from jfml_tracking.integrations.lightning import JFrogMLLogger
from jfml_tracking.integrations.sklearn import JFrogMLCallback
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from torch.utils.data import DataLoader, TensorDataset

SKLEARN_EXPERIMENT = "quickstart-iris"
LIGHTNING_EXPERIMENT = "quickstart-lightning"
REGISTERED_NAME = "quickstart-iris-classifier"
DEPLOYMENT = "quickstart-iris"


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def train_sklearn() -> tuple[str, Any]:
    step("Training a scikit-learn pipeline on iris (JFrogMLCallback)")
    X, y = load_iris(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
    callback = JFrogMLCallback(SKLEARN_EXPERIMENT, "logistic-regression")
    model = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=500))])
    model.set_callbacks(callback).fit(X_train, y_train)
    print(f"test accuracy {model.score(X_test, y_test):.3f}; run {callback.run_ids[-1]}")
    return callback.model_ids[-1], X_test.head(5)


class Regressor(pl.LightningModule):
    def __init__(self, lr: float = 0.05, hidden: int = 16) -> None:
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

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


def _synthetic(n: int, seed: int) -> DataLoader:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=gen)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1 * torch.randn(n, 1, generator=gen)
    return DataLoader(TensorDataset(x, y), batch_size=32)


def train_lightning() -> str | None:
    step("Training a Lightning model on synthetic data (JFrogMLLogger)")
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    logger = JFrogMLLogger(LIGHTNING_EXPERIMENT, "mlp", tags={"data": "synthetic"})
    trainer = pl.Trainer(
        logger=logger,
        max_epochs=3,
        log_every_n_steps=1,
        accelerator="cpu",
        devices=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(demo_dir() / "lightning"),
    )
    trainer.fit(Regressor(), _synthetic(256, 0), _synthetic(64, 1))
    print(f"val_loss {float(trainer.callback_metrics['val_loss']):.3f}; run {logger.run_id}")
    return logger.run_id


def register_deploy_predict(model_id: str, sample: Any) -> None:
    step(f"Registering models:/{model_id} as {REGISTERED_NAME!r}, deploying, predicting")
    try:
        from mlflow.deployments import get_deploy_client

        deployer = get_deploy_client("jfml")
    except Exception as exc:  # the jfml deployments target is part of jfml-tracking
        sys.exit(f"The 'jfml' deployments target is missing ({exc}); reinstall jfml-tracking.")
    version = mlflow.register_model(f"models:/{model_id}", REGISTERED_NAME)
    model_uri = f"models:/{REGISTERED_NAME}/{version.version}"
    existing = {d["name"] for d in deployer.list_deployments()}
    started = time.monotonic()
    if DEPLOYMENT in existing:
        deployment = deployer.update_deployment(DEPLOYMENT, model_uri)
    else:
        deployment = deployer.create_deployment(DEPLOYMENT, model_uri, config={"replicas": "1"})
    print(
        f"deployment {DEPLOYMENT!r} is {deployment['status']} after "
        f"{time.monotonic() - started:.0f} s: {deployment.get('endpoint_url', '')}"
    )
    predictions = deployer.predict(deployment_name=DEPLOYMENT, inputs=sample)
    print(f"predictions for 5 test flowers: {list(predictions.get_predictions()[0])}")


def print_table(experiment_names: list[str]) -> None:
    from jfml_tracking.client import JFrogMLClient

    pending = flush()
    step("What JFrog ML now holds" + (f" ({pending} item(s) still syncing)" if pending else ""))
    rows = [("kind", "name / version", "id", "details")]
    with JFrogMLClient() as client:
        for name in experiment_names:
            model = client.find_model_by_name(name)
            if model is None:
                rows.append(("model", name, "-", "not synced yet"))
                continue
            rows.append(("model", model.name, model.id, ""))
            for version in client.iter_model_versions(model.id):
                rows.append(("  version", version.version, version.id, version.artifact_path or ""))
            for experiment in client.iter_experiments(model.id):
                metrics = ", ".join(f"{k}={v:.3g}" for k, v in (experiment.metrics or {}).items())
                rows.append(("  experiment", experiment.name, experiment.id, metrics))
        for deployment in client.iter_deployments():
            if deployment.name == DEPLOYMENT:
                rows.append(("deployment", deployment.name, deployment.id, str(deployment.status)))
    widths = [max(len(str(row[i])) for row in rows) for i in range(3)]
    for row in rows:
        head = "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=False))
        details = str(row[3])
        print(f"{head}  {details if len(details) <= 64 else '...' + details[-61:]}")


def print_how_to_look(started_locally: bool) -> None:
    step("How to look at it")
    if started_locally:
        directory = demo_dir()
        print(
            f"The local server's data is in {directory}/server.db. Serve it again with\n"
            f"  jfml server --port 8080 --db sqlite:///{directory}/server.db "
            f'--token "$(cat {directory}/token)"\n'
            f"then, in another shell:\n"
            f"  export JF_URL=http://127.0.0.1:8080 JF_ACCESS_TOKEN_FILE={directory}/token\n"
            f'  curl -s -H "Authorization: Bearer $(cat {directory}/token)" '
            f"$JF_URL/ml/api/v1/models\n"
            f"  jfml ui --uri jfml+http://127.0.0.1:8080     # the MLflow UI over the journal"
        )
    else:
        print(f"Open your JFrog platform ({os.environ['JF_URL']}) > ML > Models, or run `jfml ui`.")
    print("`jfml status` lists anything not yet sent; `jfml sync` sends it.")


def main() -> None:
    started_locally = not os.environ.get("JF_URL")
    with jfrog_ml() as uri:
        print(f"MLflow tracking URI: {uri}")
        model_id, sample = train_sklearn()
        train_lightning()
        register_deploy_predict(model_id, sample)
        print_table([SKLEARN_EXPERIMENT, LIGHTNING_EXPERIMENT, REGISTERED_NAME])
        print_how_to_look(started_locally)


if __name__ == "__main__":
    main()
