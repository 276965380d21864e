"""examples/notebook.ipynb runs top to bottom in a real kernel and tracks to JFrog ML."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "notebook.ipynb"


def _stdout(cell) -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


@pytest.mark.slow
def test_notebook_runs_and_its_runs_reach_jfrog_ml(jfml_server, monkeypatch, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    from jfml_tracking.client import JFrogMLClient

    monkeypatch.setenv("JF_URL", jfml_server.url)
    monkeypatch.setenv("JF_ACCESS_TOKEN", jfml_server.token)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()  # raises CellExecutionError on any failing cell

    code = [c for c in notebook.cells if c.cell_type == "code"]
    summary = f"jfml: tracking to JFrog ML at {jfml_server.url} (autologging: sklearn, lightning)"
    assert _stdout(code[0]).strip() == summary
    assert _stdout(code[-1]).strip() == summary  # the re-run cell
    table = code[-2].outputs[0]["data"]["text/plain"]
    assert table.count("FINISHED") == 2

    # The kernel has exited; its store flushed at exit. Poll the server with a deadline.
    with JFrogMLClient(platform_url=jfml_server.url, token=jfml_server.token, env={}) as jfml:
        deadline = time.monotonic() + 30
        experiments: list = []
        while time.monotonic() < deadline:
            model = jfml.find_model_by_name("notebook-demo")
            experiments = list(jfml.iter_experiments(model.id)) if model else []
            if len(experiments) == 2:
                break
            time.sleep(0.2)
        assert sorted(str(e.status) for e in experiments) == ["completed", "completed"]
