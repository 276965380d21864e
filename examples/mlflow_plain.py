"""Plain MLflow code, unchanged, sending its run and model to JFrog ML.

The only JFrog-specific thing is the tracking URI (here set by ``jfrog_ml()``; in your own code,
``export MLFLOW_TRACKING_URI=jfml://<your-server>``). The run becomes a JFrog ML experiment of
the model named after the MLflow experiment, and the logged model becomes a model version.

    python examples/mlflow_plain.py
"""

from __future__ import annotations

import mlflow
import mlflow.sklearn
from _local_server import flush, jfrog_ml
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split

EXPERIMENT = "examples-mlflow-plain"


def main() -> str:
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run(run_name="ridge") as run:
        for alpha in (0.1, 1.0):
            model = Ridge(alpha=alpha).fit(X_train, y_train)
            mlflow.log_metric("r2", r2_score(y_test, model.predict(X_test)), step=int(alpha * 10))
        mlflow.log_param("alpha", alpha)
        mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])
    print(f"run {run.info.run_id} finished; {flush()} item(s) still pending for JFrog ML")
    return run.info.run_id


if __name__ == "__main__":
    with jfrog_ml():
        main()
