"""``jfml server``: run the reference JFrog ML API server."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import click

__all__ = ["server"]

TOKENS_ENV = "JFML_SERVER_TOKENS"


def is_loopback(host: str) -> bool:
    """True when ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _tokens(option_tokens: tuple[str, ...]) -> list[str]:
    tokens = [t for t in option_tokens if t]
    env = os.environ.get(TOKENS_ENV, "")
    tokens += [t.strip() for t in env.split(",") if t.strip()]
    return tokens


def _credentials(
    host: str, tokens: tuple[str, ...], users_file: Path | None, no_auth: bool
) -> tuple[list[str], dict[str, str] | None]:
    """Accepted tokens and user hashes; usage errors for unsafe or empty configurations."""
    from jfml_tracking.server.auth import load_users_file

    if no_auth and not is_loopback(host):
        raise click.UsageError(
            f"--no-auth is only allowed on a loopback address (127.0.0.1, ::1, localhost), "
            f"not {host!r}: anyone who can reach it could change every model. "
            "Use --token or --users-file instead."
        )
    accepted = _tokens(tokens)
    try:
        users = load_users_file(users_file) if users_file else None
    except (OSError, ValueError) as exc:
        raise click.UsageError(f"--users-file: {exc}") from None
    if not (no_auth or accepted or users):
        raise click.UsageError(
            "No credentials configured: pass --token T (or set "
            f"{TOKENS_ENV}=t1,t2), --users-file FILE, or --no-auth on a loopback address."
        )
    return accepted, users


@click.command("server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to bind (0 picks a free one).",
)
@click.option(
    "--db",
    "db_url",
    default=None,
    metavar="URL",
    help="SQLAlchemy URL: sqlite:///path/file.db or postgresql+psycopg://... "
    "[default: sqlite file server.db under JFML_HOME (~/.jfml)]",
)
@click.option(
    "--token",
    "tokens",
    multiple=True,
    metavar="T",
    help=f"Accept 'Authorization: Bearer T' (repeatable; also {TOKENS_ENV}=t1,t2).",
)
@click.option(
    "--users-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File of 'user:password' lines accepted as basic auth.",
)
@click.option(
    "--no-auth",
    is_flag=True,
    help="Accept every request without credentials (loopback addresses only).",
)
@click.option(
    "--max-body-bytes",
    default=None,
    type=click.IntRange(1024),
    help="Largest request body accepted (413 above it). [default: 8 MiB]",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
def server(
    host: str,
    port: int,
    db_url: str | None,
    tokens: tuple[str, ...],
    users_file: Path | None,
    no_auth: bool,
    max_body_bytes: int | None,
    log_level: str,
) -> None:
    """Run the reference JFrog ML API server (the API lives under /ml/api)."""
    import uvicorn

    from jfml_tracking.server.app import DEFAULT_MAX_BODY_BYTES, create_app
    from jfml_tracking.server.db import default_db_url, redact_db_url
    from jfml_tracking.server.embedded import bind_socket, url_for

    accepted, users = _credentials(host, tokens, users_file, no_auth)
    db_url = db_url or default_db_url()
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    url = url_for(host, sock.getsockname()[1])
    try:
        app = create_app(
            db_url=db_url,
            tokens=accepted,
            users=users,
            no_auth=no_auth,
            max_body_bytes=max_body_bytes or DEFAULT_MAX_BODY_BYTES,
            public_url=url,
        )
    except Exception as exc:
        sock.close()
        raise click.ClickException(
            f"cannot open database {redact_db_url(db_url)}: {type(exc).__name__}: {exc}"
        ) from None
    auth = "no auth" if no_auth else f"{len(accepted)} token(s), {len(users or {})} user(s)"
    click.echo(
        f"jfml server listening on {url} (API {url}/ml/api; db {redact_db_url(db_url)}; {auth})"
    )
    sys.stdout.flush()
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=log_level == "debug",
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    server = _clean_exit_server_class()(config)
    server.run(sockets=[sock])
    if server.stop_signal:
        click.echo(f"jfml server stopped ({server.stop_signal}).")


def _clean_exit_server_class() -> type:
    import uvicorn

    class CleanExitServer(uvicorn.Server):
        """uvicorn re-raises SIGINT/SIGTERM after a graceful shutdown, so the process dies
        of the signal. A requested stop that shut down cleanly should exit 0 instead."""

        stop_signal: str | None = None

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                yield
                captured = getattr(self, "_captured_signals", None)
                if captured:
                    self.stop_signal = signal.Signals(captured[-1]).name
                    captured.clear()

    return CleanExitServer
