"""A training process for the store's reliability tests (run as a subprocess).

Usage: python _train.py EXPERIMENT RUNS [--model] [--hang]
Prints one JSON line per finished run: {"run_id": ..., "model_id": ...}. With ``--hang`` it
logs 50 metric points to one run, prints "READY <run_id>" and sleeps until killed.
"""

from __future__ import annotations

import json
import sys
import time


def main(argv: list[str]) -> None:
    import mlflow

    experiment, runs = argv[0], int(argv[1])
    mlflow.set_experiment(experiment)
    if "--hang" in argv:
        run = mlflow.start_run(run_name="doomed")
        mlflow.log_param("lr", "0.1")
        for step in range(50):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        print(f"READY {run.info.run_id}", flush=True)
        time.sleep(600)
        return
    for index in range(runs):
        with mlflow.start_run(run_name=f"run-{index}") as run:
            mlflow.log_param("index", index)
            mlflow.log_metrics({"loss": 1.0 / (index + 1), "acc": index / runs})
            model_id = None
            if "--model" in argv:
                model_id = _log_model()
        print(json.dumps({"run_id": run.info.run_id, "model_id": model_id}), flush=True)


def _log_model() -> str:
    import mlflow
    from sklearn.dummy import DummyClassifier

    model = DummyClassifier().fit([[0], [1]], [0, 1])
    info = mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])
    return str(info.model_id)


if __name__ == "__main__":
    main(sys.argv[1:])
