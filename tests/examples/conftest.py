"""The examples set MLflow's global tracking URI and experiment; undo that after each test."""

from tests.support.mlflow_globals import restore_mlflow_globals  # noqa: F401  (autouse fixture)
