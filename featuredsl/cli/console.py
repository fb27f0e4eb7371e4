"""What the commands share: the rich Console they print tables with, the --null-token option.

On a terminal, rich fits tables to its width. Piped or redirected (a file, `less`, CI logs), there is
no width to fit: rich would assume 80 columns and wrap a wide table into hundreds of lines. There,
each row stays on one line instead (a table is as wide as its content), unless COLUMNS says otherwise.
"""

from __future__ import annotations

import os
import sys

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

null_token_option = click.option(
    "--null-token",
    "null_tokens",
    multiple=True,
    metavar="TOKEN",
    help="A CSV/TSV cell text that means null in every column, strings included (e.g. NA, "
    "NULL); repeatable. By default only an empty field is null, and 'NA' is a string.",
)
