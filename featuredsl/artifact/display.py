"""HTML display of builds and reports: the templates the HTML skew report uses
(featuredsl/templates: `_style.css.j2`, `_tables.html.j2`, `notebook.html.j2`), for Jupyter's
`_repr_html_` and for any page made of facts and tables.

A `Document` is what a build, a profile, a parity result or a shadow report shows: a title,
a status, facts (label -> value) and tables of already formatted cells. `notebook_html`
renders it inside one `<div class="featuredsl">` whose stylesheet is scoped to that div, so a
notebook's own styles are untouched. Every value is escaped (Jinja2 autoescape).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import jinja2

STATUS_CLASSES = {"ok": "none", "warning": "moderate", "failed": "severe"}


@dataclass(frozen=True)
class Table:
    """A titled table of formatted cells; `numeric` marks right-aligned columns."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""
    numeric: tuple[bool, ...] = ()

    def __post_init__(self) -> None:
        if not self.numeric:
            object.__setattr__(self, "numeric", (False,) * len(self.header))


@dataclass(frozen=True)
class Document:
    """What a display shows: title, optional status ("ok", "warning" or "failed"), facts,
    notes and tables."""

    title: str
    facts: tuple[tuple[str, str], ...] = ()
    tables: tuple[Table, ...] = ()
    notes: tuple[str, ...] = ()
    status: str | None = None


@cache
def environment() -> jinja2.Environment:
    """The one Jinja2 environment of featuredsl's HTML (autoescaped, StrictUndefined)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("featuredsl", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        keep_trailing_newline=True,
    )


def notebook(body: str, **context: Any) -> str:
    """A content template (`_skew.html.j2`, `_tables.html.j2`) in the notebook wrapper."""
    return environment().get_template("notebook.html.j2").render(body=body, **context)


def notebook_html(document: Document) -> str:
    """A Document as notebook HTML (the `_repr_html_` of builds, profiles, parity results)."""
    return notebook(
        "_tables.html.j2",
        title=document.title,
        status=document.status,
        status_class=STATUS_CLASSES.get(document.status or "", "none"),
        facts=document.facts,
        notes=document.notes,
        tables=document.tables,
    )


def fmt(value: Any, digits: int = 6) -> str:
    """A value as a person reads it: floats to `digits` significant digits, NaN as "null"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return f"{value:.{digits}g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def share(value: float | None) -> str:
    """A share in [0, 1] as a percentage."""
    return "n/a" if value is None or math.isnan(value) else f"{value:.2%}"


def cells(values: Sequence[Any]) -> tuple[str, ...]:
    """A row of formatted cells."""
    return tuple(fmt(v) for v in values)
