"""Problems found in user data, collected per column and rendered into one DataError."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

_MAX_SHOWN_PROBLEMS = 20


class Problem(Exception):
    """One column's first bad row: rendered into the DataError the caller raises.

    `message` may say {row} (filled with the row at render time, so that a reader streaming
    batches can report the row of the whole source: `render(name, offset)`) and {value} (the
    bad value, filled last so that text inside it is never substituted)."""

    def __init__(self, row: int | None, message: str, hint: str, value: str | None = None) -> None:
        super().__init__(message)
        self.row = row
        self.message = message
        self.hint = hint
        self.value = value

    def render(self, name: str, offset: int = 0) -> str:
        """The problem in words; `offset` is the source row of the batch's first row."""
        row = None if self.row is None else self.row + offset
        message = self.message.replace("{row}", str(row))
        if self.value is not None:
            message = message.replace("{value}", self.value)
        # A message about the whole column ("holds ...") names its first bad row itself.
        column_level = row is None or message.startswith("holds ")
        where = f"column {name!r}" if column_level else f"column {name!r}, row {row}"
        if message.startswith("holds "):
            return f"{where} {message}"
        hint = self.hint.replace("{name}", name)
        return f"{where}: {message}" + (f"; {hint}" if hint else "")


class Issues:
    """Problems found in one column; the one at the smallest row wins.

    Templates may say {name} (the column) and {value} (the bad value); they are filled by
    replacement, never str.format, so braces in user data are harmless.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.found: list[Problem] = []

    def add(self, row: int | None, message: str, hint: str, value: str | None = None) -> None:
        self.found.append(Problem(row, message.replace("{name}", self.name), hint, value))

    def at(
        self,
        bad: np.ndarray,
        rows: np.ndarray | None,
        show: Callable[[int], str],
        message: str,
        hint: str,
    ) -> None:
        """Record the first True of `bad`; `rows` maps its positions to feed rows (None = same)."""
        if bad.any():
            pos = int(np.argmax(bad))
            row = pos if rows is None else int(rows[pos])
            self.add(row, message, hint, show(pos))

    def raise_first(self) -> None:
        if self.found:
            raise min(self.found, key=lambda p: -1 if p.row is None else p.row)


def join_problems(source: str, problems: list[str]) -> str:
    if len(problems) == 1:
        return f"{source}: {problems[0]}"
    shown = [f"  - {p}" for p in problems[:_MAX_SHOWN_PROBLEMS]]
    if len(problems) > _MAX_SHOWN_PROBLEMS:
        shown.append(f"  ... and {len(problems) - _MAX_SHOWN_PROBLEMS} more")
    return f"{source}: {len(problems)} columns have bad values:\n" + "\n".join(shown)


def show_value(value: Any) -> str:
    """A short repr of a bad value for an error message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def type_name(value: Any) -> str:
    return type(value).__name__
