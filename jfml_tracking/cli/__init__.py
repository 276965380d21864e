"""The ``jfml`` command.

Each subcommand lives in its own module and is imported only when invoked, so that
``jfml --help`` and ``jfml status`` stay fast and never pull in the server's or MLflow's
dependencies they don't need.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

__all__ = ["main"]

# command name -> "module:attribute" of a click.Command
_COMMANDS: dict[str, tuple[str, str]] = {
    "server": ("jfml_tracking.cli.server_cmd:server", "Run the reference JFrog ML API server."),
    "sync": ("jfml_tracking.cli.sync_cmd:sync", "Send everything pending in the journal."),
    "status": ("jfml_tracking.cli.status_cmd:status", "List pending sync items and errors."),
    "doctor": ("jfml_tracking.cli.doctor_cmd:doctor", "Check configuration, network and auth."),
    "ui": ("jfml_tracking.cli.ui_cmd:ui", "Start the MLflow UI over the local journal."),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attr = target[0].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("jfml_tracking"):
                raise
            missing = exc.name or "a dependency"
            return _missing_extra_command(cmd_name, missing, target[1])
        command: click.Command = getattr(module, attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: Any) -> None:
        rows = [(name, _COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _missing_extra_command(name: str, missing: str, help_text: str) -> click.Command:
    def _fail() -> None:
        raise click.ClickException(
            f"'jfml {name}' needs {missing!r}, which is not installed. "
            "Install it with: pip install 'jfml-tracking[all]'"
        )

    return click.Command(name, callback=_fail, help=help_text)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="jfml-tracking", prog_name="jfml")
def main() -> None:
    """jfml: send MLflow, Lightning and scikit-learn training work to JFrog ML."""
