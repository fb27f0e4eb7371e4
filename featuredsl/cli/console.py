"""What the commands share: the rich Console they print tables with, the --null-token option.

On a terminal, rich fits tables to its width. Piped or redirected (a file, `less`, CI logs), there is
no width to fit: rich would assume 80 columns and wrap a wide table into hundreds of lines. There,
each row stays on one line instead (a table is as wide as its content), unless COLUMNS says otherwise.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click
from rich.console import Console

PIPED_WIDTH = 10_000  # wide enough for any row; rich pads nothing to it


def make_console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    if os.environ.get("COLUMNS") or _is_terminal(stream):
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=PIPED_WIDTH)


def _is_terminal(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


timestamp_unit_option = click.option(
    "--timestamp-unit",
    "timestamp_unit",
    type=click.Choice(["s", "ms", "us", "ns"]),
    default=None,
    help="The unit of plain integers in timestamp columns (epoch seconds, milliseconds, "
    "microseconds or nanoseconds, UTC). Without it such columns are refused: featuredsl never "
    "guesses a unit. Typed timestamps (Parquet/Arrow, ISO 8601 text with a zone in CSV) carry "
    "their own.",
)


def _event_tables(
    context: click.Context, parameter: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    tables: dict[str, str] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise click.BadParameter(
                f"{value!r}: write SOURCE=PATH, e.g. --events purchases=events.parquet"
            )
        if name in tables:
            raise click.BadParameter(f"event source {name!r} is given twice")
        tables[name] = path
    return tables


events_option = click.option(
    "--events",
    "events",
    multiple=True,
    callback=_event_tables,
    metavar="SOURCE=PATH",
    help="The event table of an event source of the spec (repeat per source): a Parquet, CSV "
    "or TSV file (or a directory or glob of them) with the source's key column and its "
    "declared columns; the window aggregates are backfilled from it (docs/windows.md).",
)

null_token_option = click.option(
    "--null-token",
    "null_tokens",
    multiple=True,
    metavar="TOKEN",
    help="A CSV/TSV cell text that means null in every column, strings included (e.g. NA, "
    "NULL); repeatable. By default only an empty field is null, and 'NA' is a string.",
)


batch_rows_option = click.option(
    "--batch-rows",
    "batch_rows",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Rows per streamed batch (default 65,536): memory is bounded by it, results do not "
    "depend on it.",
)

quiet_option = click.option(
    "--quiet",
    "-q",
    is_flag=True,
    help="No progress bar (there is none when stderr is not a terminal).",
)


class RowsProgress:
    """A rich progress bar per pass over streamed data, with rows/s and the time left; silent
    when stderr is not a terminal or `quiet`. Use as a context manager; `update` is the
    `RowsHook` the streaming APIs call after each batch: (pass, rows done, rows in all)."""

    def __init__(self, quiet: bool = False) -> None:
        self.enabled = not quiet and _is_terminal(sys.stderr)
        self.progress: Any = None
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> RowsProgress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("rows"),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def update(self, what: str, done: int, total: int) -> None:
        if self.progress is None:
            return
        task = self.tasks.get(what)
        if task is None:
            task = self.tasks[what] = self.progress.add_task(what, total=total, rate="")
        speed = self.progress.tasks[task].speed
        rate = f"{speed:,.0f} rows/s" if speed else ""
        self.progress.update(task, completed=done, total=total, rate=rate)


def engine_options(command: Any) -> Any:
    """--engine local|dask and --scheduler ADDRESS (a dask.distributed scheduler)."""
    command = click.option(
        "--scheduler",
        "scheduler",
        default=None,
        metavar="ADDRESS",
        help="With --engine dask: the scheduler to use (tcp://host:8786); none starts a "
        "LocalCluster of processes.",
    )(command)
    return click.option(
        "--engine",
        "engine",
        type=click.Choice(["local", "dask"]),
        default="local",
        show_default=True,
        help="local streams in this process; dask runs partitions on a dask.distributed "
        "cluster (extra featuredsl[dask]).",
    )(command)
