"""Every example runs, on bundled or synthetic data, and leaves the promised things in JFrog ML.

``mlflow_plain`` and ``sklearn_gridsearch`` run in-process against the session's server (as if
``JF_URL`` were configured); ``quickstart`` (what ``make demo`` runs) and ``lightning_ddp`` (which
launches a second rank) run as scripts, starting their own local server.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def configured(jfml_server, monkeypatch, tmp_path) -> Iterator[Any]:
    """The environment of a user whose JF_URL points at the session's server."""
    from jfml_tracking.client import JFrogMLClient

    monkeypatch.setenv("JF_URL", jfml_server.url)
    monkeypatch.setenv("JF_ACCESS_TOKEN", jfml_server.token)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.chdir(tmp_path)
    with JFrogMLClient(platform_url=jfml_server.url, token=jfml_server.token, env={}) as client:
        yield client


def _run_script(name: str, tmp_path: Path, timeout: float) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JF_", "MLFLOW_"))}
    env["JFML_HOME"] = str(tmp_path / "jfml_home")
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _experiments(client: Any, model_name: str) -> list[Any]:
    model = client.find_model_by_name(model_name)
    assert model is not None, f"no JFrog ML model {model_name!r}"
    return list(client.iter_experiments(model.id))


def test_mlflow_plain(configured, capsys):
    import mlflow_plain

    with mlflow_plain.jfrog_ml():
        run_id = mlflow_plain.main()
    assert "0 item(s) still pending" in capsys.readouterr().out
    assert mlflow.MlflowClient().get_run(run_id).info.status == "FINISHED"
    [experiment] = _experiments(configured, mlflow_plain.EXPERIMENT)
    assert experiment.name == "ridge" and "r2" in experiment.metrics
    model = configured.find_model_by_name(mlflow_plain.EXPERIMENT)
    assert len(list(configured.iter_model_versions(model.id))) == 1


def test_sklearn_gridsearch(configured, capsys):
    import sklearn_gridsearch

    with sklearn_gridsearch.jfrog_ml():
        callback = sklearn_gridsearch.main(n_jobs=1)
    out = capsys.readouterr().out
    assert re.search(r"best C=\S+, cv accuracy 0\.9\d\d", out)
    assert len(callback.run_ids) == 1
    experiments = _experiments(configured, sklearn_gridsearch.EXPERIMENT)
    assert len(experiments) == 4  # the search and its three best candidates
    model = configured.find_model_by_name(sklearn_gridsearch.EXPERIMENT)
    assert len(list(configured.iter_model_versions(model.id))) == 1


@pytest.mark.slow
def test_quickstart_is_the_whole_flow(tmp_path):
    out = _run_script("quickstart.py", tmp_path, timeout=240)
    assert "Started a local JFrog ML server" in out
    assert re.search(r"deployment 'quickstart-iris' is active", out)
    assert re.search(r"predictions for 5 test flowers: \[[0-2](, [0-2]){4}\]", out)
    table = out.split("== What JFrog ML now holds", 1)[1]
    for expected in ("quickstart-iris ", "quickstart-lightning", "quickstart-iris-classifier"):
        assert f"model         {expected}" in table
    assert table.count("  version  ") == 3 and table.count("  experiment  ") == 2
    assert "deployment    quickstart-iris" in table
    assert "still syncing" not in out
    token = (tmp_path / "jfml_home" / "demo" / "token").read_text()
    assert token not in out


@pytest.mark.slow
def test_lightning_ddp_makes_one_run_known_to_both_ranks(tmp_path):
    out = _run_script("lightning_ddp.py", tmp_path, timeout=240)
    run_ids = dict(re.findall(r"rank (\d): run (\w+)", out))
    assert set(run_ids) == {"0", "1"}
    assert run_ids["0"] == run_ids["1"] != "None"
    assert "0 item(s) still pending" in out
    # Serve the example's database again and ask the API what it holds.
    from jfml_tracking.client import JFrogMLClient
    from jfml_tracking.server.embedded import start_server

    demo = tmp_path / "jfml_home" / "demo"
    token = (demo / "token").read_text()
    with (
        start_server(db_url=f"sqlite:///{demo / 'server.db'}", tokens=(token,)) as server,
        JFrogMLClient(platform_url=server.url, token=token, env={}) as client,
    ):
        experiments = _experiments(client, "examples-lightning-ddp")
        assert [e.name for e in experiments] == ["ddp-2-ranks"]
        assert str(experiments[0].status) == "completed"
        model = client.find_model_by_name("examples-lightning-ddp")
        assert len(list(client.iter_model_versions(model.id))) == 1  # the best checkpoint
