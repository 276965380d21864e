"""``jfml ui``: the MLflow UI over the local journal (and the team's entities on JFrog ML)."""

from __future__ import annotations

import os
import subprocess
import sys

import click

__all__ = ["ui"]


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--uri", "tracking_uri", help="jfml tracking URI (default: MLFLOW_TRACKING_URI).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.argument("mlflow_args", nargs=-1, type=click.UNPROCESSED)
def ui(tracking_uri: str | None, host: str, port: int, mlflow_args: tuple[str, ...]) -> None:
    """Start the MLflow UI over the journal of a jfml tracking URI.

    Extra arguments go to `mlflow ui`. The UI reads the local journal; models and experiments
    made elsewhere on JFrog ML appear too (read-only) when the server is reachable.
    """
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
    if not uri.lower().startswith("jfml"):
        raise click.ClickException(
            "no jfml tracking URI. Fix: pass --uri jfml://<server> (or jfml+https://host), or "
            "set MLFLOW_TRACKING_URI."
        )
    from jfml_tracking.config import ConfigurationError, resolve_settings

    try:
        resolve_settings(uri, token="placeholder-never-sent")  # validates the URI only
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    command = [
        sys.executable, "-m", "mlflow", "ui",
        "--backend-store-uri", uri, "--host", host, "--port", str(port), *mlflow_args,
    ]  # fmt: skip
    click.echo(f"jfml: MLflow UI on http://{host}:{port} over {uri}")
    raise SystemExit(subprocess.call(command))
