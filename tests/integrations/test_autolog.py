"""jfml_tracking.autolog(): destination, one-line summary, frameworks, re-running."""

from __future__ import annotations

import subprocess
import sys

import lightning.pytorch as pl
import mlflow
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge

import jfml_tracking
from tests.integrations._integration_models import TRAINER_DEFAULTS, TinyRegressor, loader


@pytest.fixture
def autolog_off():
    yield
    jfml_tracking.autolog(disable=True)


@pytest.mark.slow  # a Lightning fit, an autologged sklearn fit and a sync: ~8 s
def test_configured_server_gets_the_runs_and_rerunning_is_harmless(
    jfml_server, monkeypatch, capsys, tmp_path, unique_name, autolog_off
):
    monkeypatch.setenv("JF_URL", jfml_server.url)
    monkeypatch.setenv("JF_ACCESS_TOKEN", jfml_server.token)
    for _ in range(2):  # a re-run cell
        # log_models=False: MLflow's model logging infers requirements in a subprocess (~15 s)
        assert jfml_tracking.autolog(experiment_name=unique_name, log_models=False) == "jfml:"
    lines = capsys.readouterr().out.splitlines()
    expected = f"jfml: tracking to JFrog ML at {jfml_server.url} (autologging: sklearn, lightning)"
    assert lines == [expected, expected]
    assert jfml_server.token not in "".join(lines)

    Ridge().fit(*load_diabetes(return_X_y=True))
    trainer = pl.Trainer(**TRAINER_DEFAULTS, max_epochs=1, default_root_dir=str(tmp_path))
    trainer.fit(TinyRegressor(), loader())

    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(unique_name)
    runs = client.search_runs([experiment.experiment_id])
    sources = sorted(r.data.tags.get("jfml.framework", "mlflow.sklearn.autolog") for r in runs)
    assert sources == ["mlflow.sklearn.autolog", "pytorch-lightning"]  # one run each
    assert all(r.info.status == "FINISHED" for r in runs)

    store = client._tracking_client.store
    assert store.flush(20.0) == 0
    from jfml_tracking.client import JFrogMLClient

    with JFrogMLClient(platform_url=jfml_server.url, token=jfml_server.token, env={}) as jfml:
        model = jfml.find_model_by_name(unique_name)
        assert model is not None
        assert len(jfml.list_experiments(model.id).experiments) == 2


def test_offline_mode_says_so(jfml_server, monkeypatch, capsys, autolog_off):
    monkeypatch.setenv("JF_URL", jfml_server.url)
    monkeypatch.setenv("JFML_MODE", "offline")
    jfml_tracking.autolog(frameworks=["sklearn"])
    line = capsys.readouterr().out.strip()
    assert line.startswith("jfml: offline (JFML_MODE=offline)")
    assert "jfml sync" in line and line.endswith("(autologging: sklearn)")


def test_a_server_without_credentials_is_named_and_the_fix_given(
    jfml_server, monkeypatch, capsys, autolog_off
):
    monkeypatch.setenv("JF_URL", jfml_server.url)
    jfml_tracking.autolog(frameworks=[])
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"jfml: JFrog ML at {jfml_server.url}, but no credentials found")
    assert "JF_ACCESS_TOKEN" in line and "jfml sync" in line


def test_without_any_server_runs_stay_local(capsys, tmp_path, autolog_off):
    uri = jfml_tracking.autolog(frameworks=[])
    line = capsys.readouterr().out.strip()
    assert uri.startswith("sqlite:///") and uri.endswith("local-mlflow.db")
    assert line.startswith("jfml: no JFrog ML server configured (set JF_URL")
    assert "(autologging: none installed)" in line


def test_an_explicit_uri_wins(capsys, tmp_path, autolog_off):
    uri = f"sqlite:///{tmp_path / 'mine.db'}"
    assert jfml_tracking.autolog(uri, frameworks=[]) == uri
    assert mlflow.get_tracking_uri() == uri
    assert f"tracking to MLflow at {uri}" in capsys.readouterr().out


def test_unknown_framework_is_refused():
    with pytest.raises(ValueError, match=r"\['keras'\]; choose from \['sklearn', 'lightning'\]"):
        jfml_tracking.autolog(frameworks=["keras"])


def test_importing_the_package_and_autolog_imports_no_framework():
    code = (
        "import sys, jfml_tracking, jfml_tracking.autolog; "
        "print(sorted(m for m in ('torch', 'lightning', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
