"""The rich Console every command prints tables with.

On a terminal, rich fits tables to its width. Piped or redirected (a file, `less`, CI logs), there is
no width to fit: rich would assume 80 columns and wrap a wide table into hundreds of lines. There,
each row stays on one line instead (a table is as wide as its content), unless COLUMNS says otherwise.
"""

from __future__ import annotations

import os
import sys

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
