"""scikit-learn tracking cost: seconds per small Ridge fit, tracked by JFrogMLCallback
(``fit_tracked``, run + params + metrics + model) versus ``mlflow.sklearn.autolog``, both into
the same tracking store (the ``jfml+http`` store and a local reference server; plain SQLite when
that store is missing), and versus the untracked fit.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Row

FITS = 10
AUTOLOG_FITS = 4  # seconds each; enough for a ratio this large


def _uri(cleanup: list[Callable[[], None]], home: Path) -> tuple[str, str]:
    if importlib.util.find_spec("jfml_tracking.mlflow_plugin.tracking_store") is None:
        return f"sqlite:///{home / 'mlflow.db'}", "sqlite store"
    from jfml_tracking.server.embedded import start_server

    server = start_server(db_url=f"sqlite:///{home / 'server.db'}", tokens=("bench-token",))
    cleanup.append(server.stop)
    os.environ["JF_ACCESS_TOKEN"] = server.token
    os.environ["JFML_HOME"] = str(home / "jfml_home")
    return "jfml+http://" + server.url.split("://", 1)[1], "jfml store"


def _seconds_per_fit(fit: Callable[[], object], fits: int = FITS) -> float:
    fit()  # warm-up: imports, schema, first model save
    start = time.perf_counter()
    for _ in range(fits):
        fit()
    return (time.perf_counter() - start) / fits


def run() -> list[Row]:
    warnings.filterwarnings("ignore")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    import mlflow
    import mlflow.sklearn
    from jfml_tracking.integrations.sklearn import JFrogMLCallback, fit_tracked
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    X, y = load_diabetes(return_X_y=True)
    cleanup: list[Callable[[], None]] = []
    with tempfile.TemporaryDirectory(prefix="bench-sklearn-") as tmp:
        try:
            uri, store = _uri(cleanup, Path(tmp))
            plain = _seconds_per_fit(lambda: Ridge().fit(X, y))
            callback = JFrogMLCallback("bench-callback", tracking_uri=uri)
            ours = _seconds_per_fit(lambda: fit_tracked(Ridge(), X, y, callback=callback))
            mlflow.set_tracking_uri(uri)
            mlflow.set_experiment("bench-autolog")
            mlflow.sklearn.autolog(silent=True)
            try:
                autolog = _seconds_per_fit(lambda: Ridge().fit(X, y), fits=AUTOLOG_FITS)
            finally:
                mlflow.sklearn.autolog(disable=True)
        finally:
            for stop in cleanup:
                stop()
    return [
        Row(
            "sklearn",
            f"Ridge fit + run + model ({store})",
            ours,
            "mlflow.sklearn.autolog",
            autolog,
            "<= 0.1x",
            "s",
        ),
        Row("sklearn", f"Ridge fit + run + model ({store})", ours, "untracked fit", plain, "", "s"),
    ]


if __name__ == "__main__":
    for row in run():
        print(
            f"{row.measure}: {row.ours:.4f} {row.unit} vs {row.peer_name} {row.peer:.4f} "
            f"= {row.ratio:.3f}x (target {row.target or '-'})"
        )
