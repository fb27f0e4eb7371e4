"""numpy backend, window stage: the module computes each window aggregate from the request's
events (docs/windows.md) before the row features read it as a derived input column.

One function per event source reads and checks the source's columns (`source.offsets` and one
array per event column), evaluates the `where =` filters over the events, and calls the window
kernels (featuredsl.backends.numpy.windows and .exact_sum, copied verbatim into the module,
the same code the training backfill runs).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from featuredsl.backends.numpy import exact_sum, windows
from featuredsl.compiler.ir import Builder, EventSource, Node, Window, substitute, walk
from featuredsl.compiler.types import DType

KERNEL_MODULES: tuple[ModuleType, ...] = (exact_sum, windows)

Statement = Any  # featuredsl.backends.numpy.codegen.Statement (variable, expression, ...)
RenderFilters = Callable[[Sequence[Node]], tuple[list[Statement], dict[Node, str]]]
"""Renders IR nodes over the event columns as the module's statements: (statements, the
variable of each node)."""
VariableOf = Callable[[str, bool], str]
"""The module's variable of an input (or derived) column, or of its null mask (True)."""


@dataclass(frozen=True)
class SourceStage:
    """The rendered stage of one event source: its function's text and the lines of
    `transform` that assign every derived column and mask variable: computed from the
    request's events, or read as columns of a backfilled table (the training backfill's)."""

    function: str
    lines: tuple[str, ...]


def kernel_sources() -> list[str]:
    """The window kernels' text without each file's docstring and imports, to be copied into a
    module (they need numpy only, imported by the module itself)."""
    texts = []
    for module in KERNEL_MODULES:
        text = inspect.getsource(module)
        marker = "import numpy as np\n"
        texts.append(text[text.index(marker) + len(marker) :].strip() + "\n")
    return texts


def render_source(
    source: EventSource,
    source_windows: Sequence[Window],
    time_variable: str,
    render_filters: RenderFilters,
    variable_of: VariableOf,
) -> SourceStage:
    """The function computing `source_windows` (all of one source) and the call in transform.

    `render_filters(roots) -> (statements, names)` renders IR nodes over the event columns
    (named by their plain column names) as the module's statements; `variable_of(name, mask)`
    is the module's variable for an input (or derived) column. `time_variable` holds each row's
    prediction time (int64 microseconds)."""
    plain = _plain_filters(source, source_windows)
    filters = [plain[w.where] for w in source_windows if w.where is not None]
    statements, names = render_filters(filters)
    function = f"_events_{_identifier(source.name)}"
    lines = [
        f"def {function}(columns, rows, prediction_time):",
        f'    """Window aggregates over event source {source.name!r} (docs/windows.md): row i\'s',
        f"    events are {source.name}.offsets[i]:{source.name}.offsets[i + 1], in event-time order.",
        '    """',
        f"    offsets = _offsets(columns, {source.name!r}, rows)",
        "    events = int(offsets[-1])",
    ]
    for column in source.columns:
        variable = variable_of(column.name, False)
        name = source.column_name(column.name)
        lines.append(
            f"    {variable} = _column(columns, {name!r}, {str(column.dtype)!r}, "
            f"{column.nullable}, events)"
        )
        if column.dtype is DType.STRING:
            lines.append(f"    _check_text({name!r}, {variable})")
        if column.nullable and column.dtype is not DType.FLOAT:
            mask = variable_of(column.name, True)
            lines.append(f"    {mask} = _mask(columns, {name!r}, events)")
    time = variable_of(source.time, False)
    lines.append(f"    _check_event_order({source.name!r}, {time}, offsets)")
    lines.append("    starts, ends = offsets[:-1], offsets[1:]")
    body = ["    with np.errstate(all='ignore'):"]
    body += [f"        {st.variable} = {st.expression}" for st in statements]
    if statements:
        lines += body
    bounds: dict[int, tuple[str, str]] = {}
    results: list[str] = []
    targets: list[str] = []
    for index, window in enumerate(source_windows):
        lines.append(f"    # {window.text}")
        if window.length not in bounds:
            lo, hi = f"lo{len(bounds)}", f"hi{len(bounds)}"
            bounds[window.length] = (lo, hi)
            lines.append(
                f"    {lo}, {hi} = window_bounds({time}, starts, ends, prediction_time, "
                f"{window.length}, {window.lag})"
            )
        lo, hi = bounds[window.length]
        where = names[plain[window.where]] if window.where is not None else None
        included = _included(source, window, where, variable_of)
        lines.append(f"    included = {included}")
        result = f"w{index}"
        lines += [f"    {line}" for line in _aggregate(source, window, result, lo, hi, variable_of)]
        targets.append(variable_of(window.column, False))
        results.append(result)
        if window.input.mask_name is not None:
            targets.append(variable_of(window.column, True))
            results.append(f"{result}_missing")
    single = "," if len(results) == 1 else ""  # one result still returns (and unpacks) a tuple
    lines.append(f"    return {', '.join(results)}{single}")
    call = [
        f"if {source.offsets_name!r} in columns:  # the request's events",
        f"    {', '.join(targets)}{single} = {function}(columns, rows, {time_variable})",
        "else:  # a backfilled table: each window aggregate is a column",
        f"    if {source_windows[0].column!r} not in columns:",
        "        raise InputError(",
        f'            "event source {source.name!r}: the columns hold neither its events "',
        f'            "({source.offsets_name!r} and one array per event column) nor its "',
        f'            "backfilled windows ({source_windows[0].column!r}, ...); see docs/windows.md"',
        "        )",
    ]
    for window in source_windows:
        column = window.input
        variable = variable_of(column.name, False)
        call.append(
            f"    {variable} = _column(columns, {column.name!r}, {str(column.dtype)!r}, "
            f"{column.nullable}, rows)"
        )
        if column.dtype is DType.STRING:
            call.append(f"    _check_text({column.name!r}, {variable})")
        if column.mask_name is not None:
            mask = variable_of(column.name, True)
            call.append(f"    {mask} = _mask(columns, {column.name!r}, rows)")
    return SourceStage("\n".join(lines) + "\n", tuple(call))


def _plain_filters(source: EventSource, source_windows: Sequence[Window]) -> dict[Node, Node]:
    """The filters with their event inputs renamed `source.column` -> `column`, so that the
    function's variables read as the columns they hold."""
    roots = [w.where for w in source_windows if w.where is not None]
    prefix = source.name + "."
    builder = Builder()
    renames = {
        node: builder.node(
            node.op, (), node.type, {**dict(node.attrs), "name": node.attr("name")[len(prefix) :]}
        )
        for node in walk(roots)
        if node.op == "input"
    }
    mapping = substitute(roots, renames, builder)
    return {root: mapping[root] for root in roots}


def _included(
    source: EventSource, window: Window, where: str | None, variable_of: VariableOf
) -> str:
    """The expression of the events the aggregate uses: the filter's, with a value: not null."""
    parts = [where] if where is not None else []
    if window.value is not None:
        column = next(c for c in source.columns if c.name == window.value)
        value = variable_of(column.name, False)
        if column.dtype is DType.FLOAT:
            parts.append(f"~np.isnan({value})")
        elif column.nullable:
            parts.append(f"~{variable_of(column.name, True)}")
    return " & ".join(parts) if parts else "np.ones(events, dtype=np.bool_)"


def _aggregate(
    source: EventSource, window: Window, result: str, lo: str, hi: str, variable_of: VariableOf
) -> list[str]:
    if window.kind == "count":
        return [f"{result} = window_count(included, {lo}, {hi})"]
    assert window.value is not None and window.value_dtype is not None
    values = variable_of(window.value, False)
    if window.kind == "sum" and window.value_dtype is DType.INT:
        return [f"{result} = window_sum_int({values}, included, {lo}, {hi})"]
    if window.kind == "sum":
        return [f"{result} = exact_sums(np.where(included, {values}, 0.0), {lo}, {hi})"]
    if window.kind == "mean":
        as_float = values if window.value_dtype is DType.FLOAT else f"{values}.astype(np.float64)"
        return [
            f"total = exact_sums(np.where(included, {as_float}, 0.0), {lo}, {hi})",
            f"count = window_count(included, {lo}, {hi})",
            f"{result} = np.where(count > 0, total / np.maximum(count, 1), np.nan)",
        ]
    call = f"window_{window.kind}({values}, included, {lo}, {hi})"
    if window.kind == "nth_last":
        call = f"window_nth_last({values}, included, {lo}, {hi}, {window.rank})"
    if window.dtype is DType.FLOAT:  # NaN where missing: a float's null
        return [f"{result}, _ = {call}"]
    return [f"{result}, {result}_missing = {call}"]


def _identifier(name: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name)
