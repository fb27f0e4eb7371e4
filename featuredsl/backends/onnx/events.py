"""ONNX backend, window stage: the graph computes each window aggregate from the request's
events (docs/windows.md) into a value named after its derived column, which the row features
read like an input.

Per event source the graph takes `source.offsets` (int64 [N + 1]) and one input per event
column (`source.column`, [E]; a `.is_null` mask for a nullable non-float column). The filters
are emitted by the row emitters (they are elementwise, over events instead of rows); the
aggregates by featuredsl.backends.onnx.windows and the exact float sum by .exact_sum, which
compute the numpy kernels' values bit for bit on every runtime of the matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import onnx
from onnx import helper

from featuredsl.artifact import contract
from featuredsl.backends.onnx import exact_sum, windows
from featuredsl.backends.onnx.context import ELEMENT_TYPE, GraphContext, logical_not
from featuredsl.compiler.ir import EventSource, InputColumn, Node, Window
from featuredsl.compiler.types import DType

EmitNodes = Callable[[Sequence[Node]], dict[Node, str]]


def event_inputs(sources: Sequence[EventSource], used: Sequence[Window]) -> list[InputColumn]:
    """The event columns the graph takes as inputs: every column of each source with a window
    (the offsets are separate: `offsets_input`)."""
    names = {w.source for w in used}
    return [column for s in sources if s.name in names for column in s.event_inputs]


def source_inputs(source: EventSource) -> list[onnx.ValueInfoProto]:
    """The graph inputs of one event source: `source.offsets` (int64 [N + 1]), then each event
    column `source.column` ([E]) and, for a nullable non-float column, its bool mask."""
    events = f"{source.name}.events"  # the symbolic length E of the source's event arrays
    infos = [helper.make_tensor_value_info(source.offsets_name, onnx.TensorProto.INT64, ["N+1"])]
    for column in source.event_inputs:
        infos.append(
            helper.make_tensor_value_info(column.name, ELEMENT_TYPE[column.dtype], [events])
        )
        if column.mask_name is not None:
            infos.append(
                helper.make_tensor_value_info(column.mask_name, onnx.TensorProto.BOOL, [events])
            )
    return infos


def emit_window_stage(
    ctx: GraphContext,
    sources: Sequence[EventSource],
    used: Sequence[Window],
    time: str,
    emit_nodes: EmitNodes,
) -> None:
    """Append the nodes computing every window of `used`; each result is named after its
    derived column (`window.column`, and its `.is_null` mask when nullable and not a float)."""
    for source in sources:
        source_windows = [w for w in used if w.source == source.name]
        if not source_windows:
            continue
        ctx.prefix = f"{source.name}."
        filters = emit_nodes([w.where for w in source_windows if w.where is not None])
        times = source.column_name(source.time)
        bounds: dict[int, tuple[str, str]] = {}
        for window in source_windows:
            if window.length not in bounds:
                bounds[window.length] = windows.window_bounds(
                    ctx, source.offsets_name, times, time, window.length, window.lag
                )
            lo, hi = bounds[window.length]
            where = filters[window.where] if window.where is not None else None
            included = _included(ctx, source, window, where)
            value, missing = _aggregate(ctx, source, window, included, lo, hi)
            ctx.nodes.append(helper.make_node("Identity", [value], [window.column]))
            if window.input.mask_name is not None:
                assert missing is not None
                mask = contract.mask_name(window.column)
                ctx.nodes.append(helper.make_node("Identity", [missing], [mask]))
    ctx.prefix = ""


def _included(ctx: GraphContext, source: EventSource, window: Window, where: str | None) -> str:
    """The events the aggregate uses: the filter's and, with a value column, the non-null."""
    parts = [where] if where is not None else []
    if window.value is not None:
        column = next(c for c in source.columns if c.name == window.value)
        name = source.column_name(column.name)
        if column.dtype is DType.FLOAT:
            parts.append(logical_not(ctx.add("IsNaN", [name]), ctx))
        elif column.nullable:
            parts.append(logical_not(contract.mask_name(name), ctx))
    if not parts:  # every event: true for each time value
        times = source.column_name(source.time)
        return ctx.add("Equal", [times, times], hint="every_event")
    included = parts[0]
    for part in parts[1:]:
        included = ctx.add("And", [included, part], hint="included")
    return included


def _aggregate(
    ctx: GraphContext,
    source: EventSource,
    window: Window,
    included: str,
    lo: str,
    hi: str,
) -> tuple[str, str | None]:
    if window.kind == "count":
        return windows.window_count(ctx, included, lo, hi), None
    assert window.value is not None and window.value_dtype is not None
    values = source.column_name(window.value)
    if window.kind == "sum" and window.value_dtype is DType.INT:
        return windows.window_sum_int(ctx, values, included, lo, hi), None
    if window.kind in ("sum", "mean"):
        if window.value_dtype is not DType.FLOAT:
            values = ctx.add("Cast", [values], hint="as_float", to=onnx.TensorProto.DOUBLE)
        zero = ctx.constant(DType.FLOAT, 0.0)
        kept = ctx.add("Where", [included, values, zero], hint="kept")
        total = exact_sum.exact_sums(ctx, kept, lo, hi)
        if window.kind == "sum":
            return total, None
        count = windows.window_count(ctx, included, lo, hi)
        one = ctx.constant(DType.INT, 1)
        divisor = ctx.add(
            "Cast",
            [ctx.add("Where", [ctx.add("Less", [count, one]), one, count])],
            hint="divisor",
            to=onnx.TensorProto.DOUBLE,
        )
        mean = ctx.add("Div", [total, divisor], hint="mean")
        empty = ctx.add("Equal", [count, ctx.constant(DType.INT, 0)], hint="empty")
        nan = ctx.constant(DType.FLOAT, float("nan"))
        return ctx.add("Where", [empty, nan, mean], hint="mean"), None
    dtype = window.value_dtype
    if window.kind in ("min", "max"):
        kernel = windows.window_min if window.kind == "min" else windows.window_max
        return kernel(ctx, values, included, lo, hi, dtype)
    if window.kind == "first":
        return windows.window_first(ctx, values, included, lo, hi, dtype)
    if window.kind == "last":
        return windows.window_last(ctx, values, included, lo, hi, dtype)
    return windows.window_nth_last(ctx, values, included, lo, hi, window.rank, dtype)
