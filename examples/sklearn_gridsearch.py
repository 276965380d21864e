"""A scikit-learn grid search tracked by the ``sklearn.callback`` API (scikit-learn >= 1.9).

One parent run (a JFrog ML experiment) holds the search's params, ``best_cv_score``, the full
``cv_results.csv`` table and the fitted search as its model (a JFrog ML model version); the best
candidates get child runs. ``n_jobs=2`` works: child runs are read from ``cv_results_``.

On older scikit-learn, or for estimators without ``set_callbacks`` (e.g. ``Ridge``), use
``fit_tracked(estimator, X, y, callback=JFrogMLCallback(...))`` instead.

    python examples/sklearn_gridsearch.py
"""

from __future__ import annotations

from _local_server import flush, jfrog_ml
from jfml_tracking.integrations.sklearn import JFrogMLCallback
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

EXPERIMENT = "examples-breast-cancer"


def main(n_jobs: int = 2) -> JFrogMLCallback:
    X, y = load_breast_cancer(return_X_y=True)
    pipeline = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=500))])
    search = GridSearchCV(pipeline, {"clf__C": [0.01, 0.1, 1.0, 10.0]}, cv=3, n_jobs=n_jobs)
    callback = JFrogMLCallback(EXPERIMENT, "grid-search", max_child_runs=3)
    search.set_callbacks(callback).fit(X, y)
    print(f"best C={search.best_params_['clf__C']}, cv accuracy {search.best_score_:.3f}")
    print(f"run {callback.run_ids[-1]}, model models:/{callback.model_ids[-1]}")
    print(f"{flush()} item(s) still pending for JFrog ML")
    return callback


if __name__ == "__main__":
    with jfrog_ml():
        main()
