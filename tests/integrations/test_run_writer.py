"""RunWriter: buffered metrics, ordered background writes, bounded waits, never raising."""

from __future__ import annotations

import logging

from jfml_tracking.integrations._status import RunStatus, status_from_exception
from jfml_tracking.integrations._writer import RunWriter


def test_metrics_and_ops_land_in_order_and_the_run_ends(tracking, unique_name):
    writer = RunWriter(tracking_uri=tracking.uri, experiment_name=unique_name, run_name="w")
    for step in range(2500):  # more than one MLflow batch
        writer.log_metrics({"loss": 1.0 / (step + 1), "acc": step / 2500}, step)
    writer.log_params({"lr": "0.1"})
    writer.set_tags({"stage": "fit"})
    assert writer.finish(RunStatus.FINISHED, timeout=30)
    run = tracking.client.get_run(writer.run_id_if_known)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"lr": "0.1"} and run.data.tags["stage"] == "fit"
    assert len(tracking.client.get_metric_history(run.info.run_id, "loss")) == 2500
    assert writer.finish(RunStatus.FAILED) is True  # a second end changes nothing
    assert tracking.client.get_run(run.info.run_id).info.status == "FINISHED"


def test_nothing_logged_means_no_run_and_no_thread(tracking, unique_name):
    writer = RunWriter(tracking_uri=tracking.uri, experiment_name=unique_name)
    assert writer.finish(RunStatus.FINISHED)
    assert writer.run_id_if_known is None
    assert tracking.client.get_experiment_by_name(unique_name) is None
    assert writer._thread is None  # no writer thread was ever started


def test_a_failing_write_warns_once_and_later_writes_still_land(tracking, unique_name, caplog):
    writer = RunWriter(tracking_uri=tracking.uri, experiment_name=unique_name)

    def broken(client, run_id):
        raise RuntimeError("disk on fire")

    with caplog.at_level(logging.WARNING, logger="jfml_tracking.integrations"):
        for _ in range(3):
            writer.submit(broken, "broken op")
        writer.log_params({"after": "yes"})
        assert writer.finish(RunStatus.FINISHED)
    warnings = [r.getMessage() for r in caplog.records if "broken op" in r.getMessage()]
    assert warnings == ["jfml: broken op failed (training continues): disk on fire"]
    run = tracking.client.get_run(writer.run_id_if_known)
    assert run.data.params == {"after": "yes"} and run.info.status == "FINISHED"


def test_status_from_exceptions():
    class SIGTERMException(SystemExit):  # Lightning's, by name
        pass

    assert status_from_exception(None) is RunStatus.FINISHED
    assert status_from_exception(ValueError()) is RunStatus.FAILED
    assert status_from_exception(KeyboardInterrupt()) is RunStatus.KILLED
    assert status_from_exception(SIGTERMException()) is RunStatus.KILLED
