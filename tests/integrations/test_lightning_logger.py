"""JFrogMLLogger and JFrogMLCallback on real (tiny) Lightning fits."""

from __future__ import annotations

import dataclasses
import logging
import pickle
import signal
import sys
from argparse import Namespace
from pathlib import Path

import lightning.pytorch as pl
import mlflow
import pytest
from jfml_tracking.integrations.lightning import JFrogMLCallback, JFrogMLLogger
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import MLFlowLogger, TensorBoardLogger

from tests.integrations._integration_models import TRAINER_DEFAULTS, TinyRegressor, loader


@dataclasses.dataclass
class Optim:
    name: str = "sgd"
    betas: tuple = (0.9, 0.99)


def _trainer(tmp_path: Path, logger, **kw) -> pl.Trainer:
    options = {**TRAINER_DEFAULTS, "default_root_dir": str(tmp_path), "max_epochs": 2, **kw}
    return pl.Trainer(logger=logger, **options)


def _only_run(tracking, experiment_name: str):
    client = tracking.client
    experiment = client.get_experiment_by_name(experiment_name)
    runs = client.search_runs([experiment.experiment_id])
    return client, runs


def test_fit_records_params_metrics_status_and_checkpoint(tracking, tmp_path, unique_name):
    tags = {"team": "vision"}
    config = {"data": {"root": "x" * 7000, "split": 0.8}, "optim": Optim(), "ns": Namespace(k=3)}
    logger = JFrogMLLogger(unique_name, "first", tracking_uri=tracking.uri, tags=tags)
    model = TinyRegressor(config=config)
    _trainer(tmp_path, logger).fit(model, loader(), loader(seed=1))

    assert tags == {"team": "vision"}  # the caller's dict is not mutated
    client, runs = _only_run(tracking, unique_name)
    assert len(runs) == 1
    run = runs[0]
    assert run.info.run_id == logger.run_id
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "first"
    assert run.data.tags["team"] == "vision"
    params = run.data.params
    assert params["lr"] == "0.05"
    assert params["config/data/split"] == "0.8"
    assert params["config/optim/name"] == "sgd"
    assert params["config/ns/k"] == "3"
    assert len(params["config/data/root"]) == 6000  # MLflow's limit, marked as shortened
    assert params["config/data/root"].endswith("full value in the config artifact]")
    full = client.download_artifacts(run.info.run_id, "config/hparams.json", str(tmp_path))
    assert "x" * 7000 in Path(full).read_text()

    history = client.get_metric_history(run.info.run_id, "train_loss")
    assert [m.step for m in history] == list(range(8))  # 4 batches x 2 epochs, every step
    assert client.get_metric_history(run.info.run_id, "val_loss")

    models = client.search_logged_models([run.info.experiment_id])
    assert [(m.source_run_id, str(m.status)) for m in models] == [(run.info.run_id, "READY")]
    assert models[0].name == "first"
    assert models[0].tags["jfml.checkpoint"] == "best"
    artifacts = [f.path for f in client.list_logged_model_artifacts(models[0].model_id)]
    assert any(p.endswith(".ckpt") for p in artifacts)

    if tracking.jfml is not None:
        tracking.flush()
        remote = tracking.jfml.find_model_by_name(unique_name)
        assert remote is not None
        experiments = tracking.jfml.list_experiments(remote.id).experiments
        assert [(e.name, str(e.status)) for e in experiments] == [("first", "completed")]
        versions = tracking.jfml.list_model_versions(remote.id).versions
        assert len(versions) == 1 and versions[0].artifact_path


def test_exception_in_training_marks_the_run_failed(tracking, tmp_path, unique_name):
    logger = JFrogMLLogger(unique_name, tracking_uri=tracking.uri)
    with pytest.raises(RuntimeError, match="boom"):
        _trainer(tmp_path, logger).fit(TinyRegressor(fail_at=3), loader())
    _, runs = _only_run(tracking, unique_name)
    assert [r.info.status for r in runs] == ["FAILED"]
    assert len(tracking.client.get_metric_history(runs[0].info.run_id, "train_loss")) == 3


@pytest.mark.parametrize("failure", ["interrupt", "sigterm"])
def test_interrupt_and_sigterm_mark_the_run_killed(tracking, tmp_path, unique_name, failure):
    logger = JFrogMLLogger(unique_name, tracking_uri=tracking.uri)
    sigint = signal.getsignal(signal.SIGINT)
    try:
        # Lightning ends an interrupted fit with sys.exit(1), and a SIGTERM one with SystemExit.
        with pytest.raises(SystemExit):
            _trainer(tmp_path, logger).fit(TinyRegressor(fail_at=2, failure=failure), loader())
    finally:
        signal.signal(signal.SIGINT, sigint)  # Lightning ignores SIGINT after an interrupt
    _, runs = _only_run(tracking, unique_name)
    assert [r.info.status for r in runs] == ["KILLED"]


def test_test_after_fit_opens_a_linked_run_and_leaves_the_finished_one(
    tracking, tmp_path, unique_name
):
    logger = JFrogMLLogger(unique_name, "fitrun", tracking_uri=tracking.uri)
    trainer = _trainer(tmp_path, logger, max_epochs=1)
    model = TinyRegressor()
    trainer.fit(model, loader())
    fit_run_id = logger.run_id
    before = tracking.client.get_run(fit_run_id)
    trainer.test(model, loader(seed=2))

    client = tracking.client
    after = client.get_run(fit_run_id)
    assert after.info.status == "FINISHED"
    assert after.info.end_time == before.info.end_time
    assert "test_loss" not in after.data.metrics
    test_run = client.get_run(logger.run_id)
    assert test_run.info.run_id != fit_run_id
    assert test_run.info.run_name == "fitrun-test"
    assert test_run.info.status == "FINISHED"
    assert test_run.data.tags["mlflow.parentRunId"] == fit_run_id
    assert "test_loss" in test_run.data.metrics
    assert logger.finished_run_ids == [fit_run_id, test_run.info.run_id]


def test_fit_from_checkpoint_continues_the_same_run(tracking, tmp_path, unique_name):
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    first = JFrogMLLogger(unique_name, tracking_uri=tracking.uri)
    _trainer(tmp_path, first, max_epochs=1, callbacks=[ckpt]).fit(TinyRegressor(), loader())
    run_id = first.run_id

    second = JFrogMLLogger(unique_name, tracking_uri=tracking.uri)  # knows nothing of run_id
    trainer = _trainer(tmp_path, second, max_epochs=2)
    trainer.fit(TinyRegressor(), loader(), ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"))

    assert second.run_id == run_id
    _, runs = _only_run(tracking, unique_name)
    assert [r.info.run_id for r in runs] == [run_id]
    assert runs[0].info.status == "FINISHED"
    steps = [m.step for m in tracking.client.get_metric_history(run_id, "train_loss")]
    assert sorted(steps) == list(range(8))


def test_explicit_run_id_resumes(tracking, tmp_path, unique_name):
    first = JFrogMLLogger(unique_name, tracking_uri=tracking.uri)
    _trainer(tmp_path, first, max_epochs=1).fit(TinyRegressor(), loader())
    again = JFrogMLLogger(unique_name, tracking_uri=tracking.uri, run_id=first.run_id)
    _trainer(tmp_path, again, max_epochs=1).fit(TinyRegressor(), loader())
    _, runs = _only_run(tracking, unique_name)
    assert len(runs) == 1 and runs[0].info.run_id == first.run_id


def test_construction_name_and_version_do_no_io(tmp_path):
    db = tmp_path / "never.db"
    logger = JFrogMLLogger("exp", "r1", tracking_uri=f"sqlite:///{db}")
    assert (logger.name, logger.version, logger.save_dir) == ("exp", "r1", None)
    assert not db.exists()


@pytest.mark.parametrize("uri", ["sqlite:///{tmp}/a_file/x.db", "nosuchscheme://nowhere"])
def test_a_broken_store_never_breaks_training(tmp_path, caplog, uri):
    (tmp_path / "a_file").write_text("not a directory")
    logger = JFrogMLLogger("exp", tracking_uri=uri.format(tmp=tmp_path))
    with caplog.at_level(logging.WARNING, logger="jfml_tracking.integrations"):
        trainer = _trainer(tmp_path, logger, max_epochs=1)
        trainer.fit(TinyRegressor(), loader())
    assert trainer.global_step == 4
    assert any("tracking is off" in r.getMessage() for r in caplog.records)


def test_callback_beside_other_loggers_records_run_and_model(tracking, tmp_path, unique_name):
    callback = JFrogMLCallback(unique_name, "with-tb", tracking_uri=tracking.uri)
    trainer = _trainer(tmp_path, TensorBoardLogger(tmp_path / "tb"), callbacks=[callback])
    trainer.fit(TinyRegressor(), loader(), loader(seed=1))

    client, runs = _only_run(tracking, unique_name)
    assert [(r.info.run_name, r.info.status) for r in runs] == [("with-tb", "FINISHED")]
    assert {"train_loss", "val_loss"} <= set(runs[0].data.metrics)
    assert runs[0].data.params["lr"] == "0.05"
    models = client.search_logged_models([runs[0].info.experiment_id])
    assert [m.source_run_id for m in models] == [runs[0].info.run_id]
    assert list((tmp_path / "tb").rglob("events.out.tfevents.*"))  # TensorBoard still logs


def test_callback_alone_resumes_its_run_from_a_checkpoint(tracking, tmp_path, unique_name):
    ckpt = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    first = JFrogMLCallback(unique_name, tracking_uri=tracking.uri)
    _trainer(tmp_path, False, max_epochs=1, callbacks=[first, ckpt]).fit(TinyRegressor(), loader())
    second = JFrogMLCallback(unique_name, tracking_uri=tracking.uri)
    trainer = _trainer(tmp_path, False, max_epochs=2, callbacks=[second])
    trainer.fit(TinyRegressor(), loader(), ckpt_path=str(tmp_path / "ckpt" / "last.ckpt"))
    _, runs = _only_run(tracking, unique_name)
    assert [r.info.run_id for r in runs] == [first.logger.finished_run_ids[0]]
    assert second.logger.finished_run_ids == first.logger.finished_run_ids
    assert runs[0].info.status == "FINISHED"


def test_lightning_mlflow_logger_works_with_the_tracking_uri(tracking, tmp_path, unique_name):
    logger = MLFlowLogger(experiment_name=unique_name, tracking_uri=tracking.uri)
    _trainer(tmp_path, logger, max_epochs=1).fit(TinyRegressor(), loader())
    _, runs = _only_run(tracking, unique_name)
    assert [r.info.status for r in runs] == ["FINISHED"]
    assert "train_loss" in runs[0].data.metrics
    if tracking.jfml is not None:
        tracking.flush()
        remote = tracking.jfml.find_model_by_name(unique_name)
        assert remote is not None
        assert len(tracking.jfml.list_experiments(remote.id).experiments) == 1


def test_missing_lightning_names_the_extra(monkeypatch):
    monkeypatch.delitem(sys.modules, "jfml_tracking.integrations.lightning")
    monkeypatch.setitem(sys.modules, "lightning.pytorch.callbacks", None)
    with pytest.raises(ImportError, match=r"pip install 'jfml-tracking\[lightning\]'"):
        import jfml_tracking.integrations.lightning  # noqa: F401


def test_logger_pickles_with_its_run_id(tracking, tmp_path, unique_name):
    logger = JFrogMLLogger(unique_name, "r", tracking_uri=tracking.uri, tags={"k": "v"})
    assert pickle.loads(pickle.dumps(logger)).version == "r"  # before any I/O
    _trainer(tmp_path, logger, max_epochs=1).fit(TinyRegressor(), loader())
    copy = pickle.loads(pickle.dumps(logger))
    assert copy.run_id == logger.run_id and copy.name == unique_name
    assert tracking.client.get_run(logger.run_id).info.status == "FINISHED"  # not reopened


def test_log_model_is_validated():
    with pytest.raises(ValueError, match="log_model"):
        JFrogMLLogger("exp", log_model="all")  # type: ignore[arg-type]


def test_training_with_jfrog_ml_unreachable_completes_and_keeps_the_run(
    server_factory, monkeypatch, tmp_path, unique_name
):
    server = server_factory(tokens=("t",))
    uri = "jfml+http://" + server.url.split("://", 1)[1]
    server.stop()  # JFrog ML is down for the whole fit
    monkeypatch.setenv("JF_ACCESS_TOKEN", "t")
    monkeypatch.setenv("JFML_FLUSH_TIMEOUT", "0")
    logger = JFrogMLLogger(unique_name, tracking_uri=uri)
    trainer = _trainer(tmp_path, logger)
    trainer.fit(TinyRegressor(), loader())
    assert trainer.global_step == 8
    client = mlflow.MlflowClient(tracking_uri=uri)
    run = client.get_run(logger.run_id)
    assert run.info.status == "FINISHED"  # journaled locally, waiting for `jfml sync`
    assert len(client.get_metric_history(run.info.run_id, "train_loss")) == 8
    assert client._tracking_client.store.flush(0.5) > 0  # still pending: nothing was lost
