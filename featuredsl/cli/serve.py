"""`featuredsl serve BUNDLE_OR_DIR [--shadow CANDIDATE] [--log serving.db] [--host H --port P]`."""

from __future__ import annotations

import contextlib
import ipaddress

import click


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command()
@click.argument("served", type=click.Path(exists=True))
@click.option(
    "--shadow",
    type=click.Path(exists=True),
    default=None,
    help="A candidate build or bundle run on every request off the response path; its outputs "
    "are logged with the request (see `featuredsl shadow --log`).",
)
@click.option(
    "--log", type=click.Path(dir_okay=False), default=None, help="SQLite serving log to write."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--max-rows",
    type=click.IntRange(1),
    default=100_000,
    show_default=True,
    help="Refuse requests with more rows.",
)
def serve(
    served: str, shadow: str | None, log: str | None, host: str, port: int, max_rows: int
) -> int:
    """Serve SERVED (a build directory or a bundle) over HTTP: POST /predict, GET /metrics,
    GET /healthz. Needs the `serve` extra: pip install 'featuredsl[serve]'."""
    from featuredsl.runtime.server import require_extra
    from featuredsl.runtime.server import serve as run

    require_extra()
    if not _loopback(host):
        click.echo(
            f"warning: listening on {host}, not loopback: anyone who reaches it can call "
            "/predict; put it behind your own authentication",
            err=True,
        )
    extra = f", shadow {shadow}" if shadow else ""
    logged = f", logging to {log}" if log else ""

    def announce(where: str) -> None:  # only once the build is open and the port is ours
        click.echo(f"serving {served}{extra}{logged} on {where} (Ctrl-C to stop)", err=True)

    # uvicorn re-raises Ctrl-C once it has shut down cleanly.
    with contextlib.suppress(KeyboardInterrupt):
        run(
            served,
            shadow=shadow,
            log=log,
            host=host,
            port=port,
            max_rows=max_rows,
            announce=announce,
        )
    click.echo("stopped: requests drained, logs flushed", err=True)
    return 0
