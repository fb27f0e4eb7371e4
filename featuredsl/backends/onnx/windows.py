"""ONNX emitters of window aggregates over the serving encoding (docs/windows.md).

The serving encoding of one event source: `offsets` int64[N+1] (row i's events are
[offsets[i], offsets[i+1]), offsets[0] == 0, offsets[N] == E), event `times` int64[E]
(microseconds since the epoch, UTC; non-decreasing within each row), `row_times` int64[N] (each
row's prediction time T, microseconds). A window of length W and source lag L (microseconds,
Python ints, W >= 1, L >= 0, L + W < 2**62) holds the events of [lo[i], hi[i]) with

    lo[i] = first j of the row with times[j] >= T[i] - L - W   (T - L - W below INT64_MIN: -inf)
    hi[i] = first j of the row with times[j] >= T[i] - L       (else offsets[i + 1])

`included` bool[E] says which events an aggregate uses (filter true, value not null).

Every function appends nodes to a GraphContext and returns the names of its results. The
formulations keep to what onnxruntime computes exactly on every release of the runtime matrix
(docs/parity.md): int64 CumSum/Add/Sub (wrapping), comparisons, Where (on doubles knowing that
onnxruntime may turn a -0.0 picked from its second input into 0.0, see graph.py),
Gather/Concat/Slice/Compress (copies), NonZero, ScatterElements(add) of small counts, and a
double ReduceMax of small integers. Never float32, and never the int64 Min/Max/ReduceMax
kernels, which onnxruntime 1.22-1.31 get wrong beyond +-2**31 (the runtime-matrix test of
tests/test_onnx_windows.py fails on onnxruntime-node 1.30 if the sparse table uses Min/Max).

Techniques:
- per-row counts are segment sums of per-event 0/1 flags, read off an exclusive prefix sum
  (CumSum) at the segment ends;
- first/last/nth_last find the included events' positions (NonZero) and Gather the one of the
  wanted rank: copies only, so every bit (-0.0, NaN, strings) survives;
- min/max answer range-minimum queries with a sparse table (Bender and Farach-Colton, "The LCA
  problem revisited", LATIN 2000, section 3): level k holds the extremum of every run of 2**k
  compacted values, built in a Loop by comparisons (Less/Greater then Where); a window of c
  values is covered by two runs of 2**floor(log2(c)). O(E log C) work for C the largest window
  count, however the events spread over the rows (a padded [N, C] matrix would cost N * C). The sign of a zero result is then set from counts of -0.0 and
  +0.0 in the window (onnxruntime's double Where may turn a -0.0 into 0.0).
"""

from __future__ import annotations

import math

import onnx
from onnx import TensorProto, helper

from featuredsl.backends.onnx.context import ELEMENT_TYPE, GraphContext, logical_not
from featuredsl.compiler.types import DType

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
_POWERS = [2**p for p in range(63)]  # 2**0 .. 2**62

# The value of a missing result (under a True mask), per dtype.
MISSING_VALUE: dict[DType, object] = {
    DType.FLOAT: math.nan,
    DType.INT: 0,
    DType.TIMESTAMP: 0,
    DType.BOOL: False,
    DType.STRING: "",
}


# ----------------------------------------------------------------------------- helpers


def _slice(ctx: GraphContext, data: str, start: int, end: int, hint: str) -> str:
    """data[start:end] along axis 0 (Python slice semantics for negative bounds)."""
    return ctx.add("Slice", [data, ctx.int64s(start), ctx.int64s(end)], hint=hint)


def _prefix(ctx: GraphContext, counts: str, hint: str) -> str:
    """[0, counts[0], counts[0] + counts[1], ...]: int64[E + 1] from int64[E] (wrapping)."""
    running = ctx.add("CumSum", [counts, ctx.constant(DType.INT, 0)], hint=hint)
    return ctx.add("Concat", [ctx.int64s(0), running], hint=hint, axis=0)


def _segment_sums(ctx: GraphContext, prefix: str, lo: str, hi: str, hint: str) -> str:
    """prefix[hi] - prefix[lo]: int64[N], the sum over [lo, hi) (wrapping)."""
    return ctx.add(
        "Sub",
        [
            ctx.add("Gather", [prefix, hi], hint=hint, axis=0),
            ctx.add("Gather", [prefix, lo], hint=hint, axis=0),
        ],
        hint=hint,
    )


def _flags(ctx: GraphContext, condition: str) -> str:
    return ctx.add("Cast", [condition], hint="flags", to=TensorProto.INT64)


def _saturating_sub(ctx: GraphContext, values: str, amount: int) -> str:
    """values - amount for int64 values and 0 <= amount < 2**62, INT64_MIN where the difference
    is below INT64_MIN (no wrap-around: the subtraction runs on values >= INT64_MIN + amount)."""
    if amount == 0:
        return values
    floor = ctx.constant(DType.INT, INT64_MIN + amount)
    clamped = ctx.add("Where", [ctx.add("Less", [values, floor]), floor, values], hint="clamped")
    return ctx.add("Sub", [clamped, ctx.constant(DType.INT, amount)], hint="bound")


def _check_dtype(dtype: DType, allowed: tuple[DType, ...], what: str) -> None:
    if dtype not in allowed:
        names = ", ".join(str(d) for d in allowed)
        raise ValueError(f"{what}: values of dtype {dtype} are not supported (use {names})")


# ----------------------------------------------------------------------------- bounds


def window_bounds(
    ctx: GraphContext, offsets: str, times: str, row_times: str, length: int, lag: int
) -> tuple[str, str]:
    """The window [lo, hi) of every row: two int64[N] values.

    offsets: int64[N+1] (offsets[0] == 0, non-decreasing, offsets[N] == E); times: int64[E]
    microseconds, non-decreasing within each row's segment; row_times: int64[N] microseconds.
    length W and lag L: microseconds, 1 <= W, 0 <= L, L + W < 2**62 (ValueError otherwise).

    As each segment is sorted, lo[i] = offsets[i] + the number of the row's events with
    t < T - L - W, and hi[i] = offsets[i] + the number with t < T - L. The per-event row ids come
    from a ScatterElements(add) of ones at the inner offsets and a CumSum; the counts are segment
    sums of the comparisons. T - L - W saturates at INT64_MIN (every t >= INT64_MIN is then in).
    Empty rows, N == 0 and E == 0 need nothing special.
    """
    if not (isinstance(length, int) and isinstance(lag, int)):
        raise ValueError(f"window length and lag must be ints, got {length!r} and {lag!r}")
    if length < 1 or lag < 0 or length + lag >= 2**62:
        raise ValueError(
            f"window length {length} and lag {lag}: need 1 <= length, 0 <= lag, "
            "length + lag < 2**62 (microseconds)"
        )
    starts = _slice(ctx, offsets, 0, -1, "starts")
    ends = _slice(ctx, offsets, 1, INT64_MAX, "ends")
    inner = _slice(ctx, offsets, 1, -1, "inner")  # the row boundaries inside [0, E]
    events_plus_one = ctx.add("Add", [ctx.add("Shape", [times]), ctx.int64s(1)], hint="size")
    zero = helper.make_tensor("zero", TensorProto.INT64, [1], [0])
    one = helper.make_tensor("one", TensorProto.INT64, [1], [1])
    marks = ctx.add(
        "ScatterElements",
        [
            ctx.add("ConstantOfShape", [events_plus_one], hint="marks", value=zero),
            inner,
            ctx.add("ConstantOfShape", [ctx.add("Shape", [inner])], hint="ones", value=one),
        ],
        hint="marks",
        axis=0,
        reduction="add",
    )
    row_of = _slice(
        ctx, ctx.add("CumSum", [marks, ctx.constant(DType.INT, 0)], hint="row_of"), 0, -1, "row_of"
    )
    bounds = []
    for amount, hint in ((lag + length, "lo"), (lag, "hi")):
        bound = ctx.add("Gather", [_saturating_sub(ctx, row_times, amount), row_of], axis=0)
        before = _prefix(ctx, _flags(ctx, ctx.add("Less", [times, bound])), hint)
        bounds.append(
            ctx.add("Add", [starts, _segment_sums(ctx, before, starts, ends, hint)], hint=hint)
        )
    return bounds[0], bounds[1]


# ----------------------------------------------------------------------------- count and sum


def window_count(ctx: GraphContext, included: str, lo: str, hi: str) -> str:
    """The number of included events in [lo, hi): int64[N] (0 for an empty window).

    included: bool[E]; lo, hi: int64[N] from window_bounds. A segment sum of the flags over an
    exclusive prefix sum (CumSum)."""
    counts = _prefix(ctx, _flags(ctx, included), "counts")
    return _segment_sums(ctx, counts, lo, hi, "count")


def window_sum_int(ctx: GraphContext, values: str, included: str, lo: str, hi: str) -> str:
    """The int64 sum of the included values in [lo, hi), wrapping modulo 2**64: int64[N]
    (0 for an empty window).

    values: int64[E]; included: bool[E]; lo, hi: int64[N]. Prefix sums wrap modulo 2**64 and the
    difference of two wrapped prefixes is the wrapped segment sum, whatever the order."""
    kept = ctx.add("Where", [included, values, ctx.constant(DType.INT, 0)], hint="summands")
    return _segment_sums(ctx, _prefix(ctx, kept, "sums"), lo, hi, "sum")


# ----------------------------------------------------------------------------- by position


class _Compacted:
    """The included events in order: their positions P (int64[m]) and rank bounds."""

    def __init__(self, ctx: GraphContext, included: str, lo: str, hi: str) -> None:
        ranks = _prefix(ctx, _flags(ctx, included), "ranks")  # included events before j
        self.first = ctx.add("Gather", [ranks, lo], hint="first_rank", axis=0)  # int64[N]
        self.end = ctx.add("Gather", [ranks, hi], hint="end_rank", axis=0)
        self.count = ctx.add("Sub", [self.end, self.first], hint="count")
        self.total = _slice(ctx, ranks, -1, INT64_MAX, "total")  # int64[1]: m
        self.positions = ctx.add(
            "Squeeze", [ctx.add("NonZero", [included]), ctx.int64s(0)], hint="positions"
        )

    def values(self, ctx: GraphContext, values: str, dtype: DType) -> str:
        """The included values followed by the missing value: dtype[m + 1]."""
        picked = ctx.add("Gather", [values, self.positions], hint="compacted", axis=0)
        fill = ctx.vector(dtype, [MISSING_VALUE[dtype]])
        return ctx.add("Concat", [picked, fill], hint="compacted", axis=0)


def _by_rank(
    ctx: GraphContext, values: str, included: str, lo: str, hi: str, dtype: DType, n: int
) -> tuple[str, str]:
    """The n-th included value of the window from the start (n > 0, 1-based) or from the end
    (n < 0); missing where the window has fewer than |n| included values."""
    _check_dtype(dtype, tuple(DType), "window_first/last")
    compact = _Compacted(ctx, included, lo, hi)
    missing = ctx.add("Less", [compact.count, ctx.constant(DType.INT, abs(n))], hint="missing")
    if n > 0:
        rank = (
            compact.first
            if n == 1
            else ctx.add("Add", [compact.first, ctx.constant(DType.INT, n - 1)])
        )
    else:
        rank = ctx.add("Sub", [compact.end, ctx.constant(DType.INT, -n)], hint="rank")
    # Only the present rows' values are copied (a string copy costs more than an index): row i
    # reads entry (present rows up to and including i) of [fill, its value, ...], a missing
    # row entry 0. Gather copies bits, so no dtype-specific selection is needed.
    present = logical_not(missing, ctx)
    positions = ctx.add(
        "Gather",
        [compact.positions, ctx.add("Compress", [rank, present], hint="rank", axis=0)],
        hint="position",
        axis=0,
    )
    picked = ctx.add("Gather", [values, positions], hint="picked", axis=0)
    fill = ctx.vector(dtype, [MISSING_VALUE[dtype]])
    table = ctx.add("Concat", [fill, picked], hint="picked", axis=0)
    entry = ctx.add(
        "Where",
        [
            missing,
            ctx.constant(DType.INT, 0),
            ctx.add("CumSum", [_flags(ctx, present), ctx.constant(DType.INT, 0)], hint="entry"),
        ],
        hint="entry",
    )
    return ctx.add("Gather", [table, entry], hint="value", axis=0), missing


def window_first(
    ctx: GraphContext, values: str, included: str, lo: str, hi: str, dtype: DType
) -> tuple[str, str]:
    """The value of the earliest included event of [lo, hi) and its missing mask.

    values: dtype[E] (float64, int64 for int and timestamp, bool or string); included: bool[E];
    lo, hi: int64[N]. Returns (dtype[N], bool[N]); a missing value is NaN / 0 / False / "".
    Events are ordered by position (time order, ties in request order)."""
    return _by_rank(ctx, values, included, lo, hi, dtype, 1)


def window_last(
    ctx: GraphContext, values: str, included: str, lo: str, hi: str, dtype: DType
) -> tuple[str, str]:
    """The value of the latest included event of [lo, hi) and its missing mask; as
    window_first."""
    return _by_rank(ctx, values, included, lo, hi, dtype, -1)


def window_nth_last(
    ctx: GraphContext, values: str, included: str, lo: str, hi: str, n: int, dtype: DType
) -> tuple[str, str]:
    """The value of the n-th latest included event of [lo, hi) (n >= 1; n == 1 is the last) and
    its missing mask (fewer than n included events); as window_first. ValueError if n < 1."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"window_nth_last: n must be an int >= 1, got {n!r}")
    return _by_rank(ctx, values, included, lo, hi, dtype, -n)


# ----------------------------------------------------------------------------- min and max


def window_min(
    ctx: GraphContext, values: str, included: str, lo: str, hi: str, dtype: DType
) -> tuple[str, str]:
    """The smallest included value of [lo, hi) and its missing mask (no included value).

    values: float64[E] (no NaN among the included) or int64[E] (int, timestamp); included:
    bool[E]; lo, hi: int64[N]. Returns (dtype[N], bool[N]); -0.0 is below 0.0; a missing value
    is NaN (float) or 0. A sparse table over the compacted values (see the module docstring).
    ValueError for other dtypes."""
    return _extremum(ctx, values, included, lo, hi, dtype, "Less")


def window_max(
    ctx: GraphContext, values: str, included: str, lo: str, hi: str, dtype: DType
) -> tuple[str, str]:
    """The largest included value of [lo, hi) and its missing mask; 0.0 is above -0.0; as
    window_min."""
    return _extremum(ctx, values, included, lo, hi, dtype, "Greater")


def _extremum(
    ctx: GraphContext, values: str, included: str, lo: str, hi: str, dtype: DType, better: str
) -> tuple[str, str]:
    _check_dtype(dtype, (DType.FLOAT, DType.INT, DType.TIMESTAMP), f"window_{better.lower()}")
    compact = _Compacted(ctx, included, lo, hi)
    level0 = compact.values(ctx, values, dtype)  # m + 1 values; the last is the missing value
    zero = ctx.constant(DType.INT, 0)
    missing = ctx.add("Equal", [compact.count, zero], hint="missing")
    # A missing row asks for the run of one value at rank m: the missing value itself.
    start = ctx.add("Where", [missing, compact.total, compact.first], hint="start")
    count = ctx.add("Where", [missing, ctx.constant(DType.INT, 1), compact.count], hint="count")
    # k = floor(log2(count)) = the number of powers 2**1 .. 2**62 at or below count.
    reached = ctx.add(
        "GreaterOrEqual",
        [ctx.add("Unsqueeze", [count, ctx.int64s(1)]), ctx.vector(DType.INT, _POWERS[1:])],
    )
    level = ctx.add("ReduceSum", [_flags(ctx, reached), ctx.int64s(1)], hint="level", keepdims=0)
    table = _sparse_table(ctx, level0, level, dtype, better)
    width = ctx.add("Shape", [level0], hint="width")
    base = ctx.add("Add", [ctx.add("Mul", [level, width]), start], hint="run")
    span = ctx.add("Gather", [ctx.vector(DType.INT, _POWERS), level], hint="span", axis=0)
    other = ctx.add("Sub", [ctx.add("Add", [base, count]), span], hint="run")
    a = ctx.add("Gather", [table, base], hint="run_a", axis=0)
    b = ctx.add("Gather", [table, other], hint="run_b", axis=0)
    value = ctx.add("Where", [ctx.add(better, [b, a]), b, a], hint="extremum")
    if dtype is not DType.FLOAT:
        return value, missing
    return _signed_zero(ctx, value, values, included, lo, hi, better), missing


def _sparse_table(ctx: GraphContext, level0: str, level: str, dtype: DType, better: str) -> str:
    """The levels 0 .. max(level) + 1 of the sparse table of level0, flattened: dtype[(K+2) * w].

    Level k+1 at j is the better of level k at j and at j + 2**k (positions past the end hold
    values that no query reads). Built by a Loop (one more iteration than needed, so that the
    scan output is never empty)."""
    top = ctx.add(
        "ReduceMax",
        [
            ctx.add(
                "Concat",
                [
                    ctx.add("Cast", [level], to=TensorProto.DOUBLE, hint="levels"),
                    ctx.vector(DType.FLOAT, [0.0]),
                ],
                axis=0,
                hint="levels",
            )
        ],
        hint="top",
        keepdims=0,
    )
    trips = ctx.add(
        "Add",
        [ctx.add("Cast", [top], to=TensorProto.INT64, hint="top"), ctx.constant(DType.INT, 1)],
        hint="trips",
    )
    body = _sparse_table_body(ctx, dtype, better)
    carried = ctx.fresh(ctx.prefix + "table_last")
    scanned = ctx.fresh(ctx.prefix + "table_levels")
    ctx.nodes.append(
        helper.make_node("Loop", [trips, "", level0], [carried, scanned], name=scanned, body=body)
    )
    levels = ctx.add(
        "Concat", [ctx.add("Unsqueeze", [level0, ctx.int64s(0)]), scanned], hint="table", axis=0
    )
    return ctx.add("Reshape", [levels, ctx.int64s(-1)], hint="table")


def _sparse_table_body(ctx: GraphContext, dtype: DType, better: str) -> onnx.GraphProto:
    """The Loop body: (iteration i, condition, level i) -> (true, level i+1, level i+1)."""
    iteration = ctx.fresh(ctx.prefix + "iteration")
    condition = ctx.fresh(ctx.prefix + "condition")
    previous = ctx.fresh(ctx.prefix + "level")
    first = len(ctx.nodes)
    step = ctx.add(
        "Gather",
        [ctx.vector(DType.INT, _POWERS), ctx.add("Unsqueeze", [iteration, ctx.int64s(0)])],
        hint="step",
        axis=0,
    )
    ahead = ctx.add(
        "Concat",
        [
            ctx.add("Slice", [previous, step, ctx.int64s(INT64_MAX)], hint="ahead"),
            ctx.add("Slice", [previous, ctx.int64s(0), step], hint="ahead"),
        ],
        hint="ahead",
        axis=0,
    )
    nxt = ctx.add("Where", [ctx.add(better, [ahead, previous]), ahead, previous], hint="level")
    keep = ctx.add("Identity", [condition], hint="condition")
    scan = ctx.add("Identity", [nxt], hint="level")
    nodes = ctx.nodes[first:]
    del ctx.nodes[first:]
    element = ELEMENT_TYPE[dtype]
    return helper.make_graph(
        nodes,
        ctx.fresh(ctx.prefix + "sparse_table"),
        [
            helper.make_tensor_value_info(iteration, TensorProto.INT64, []),
            helper.make_tensor_value_info(condition, TensorProto.BOOL, []),
            helper.make_tensor_value_info(previous, element, ["w"]),
        ],
        [
            helper.make_tensor_value_info(keep, TensorProto.BOOL, []),
            helper.make_tensor_value_info(nxt, element, ["w"]),
            helper.make_tensor_value_info(scan, element, ["w"]),
        ],
    )


def _signed_zero(
    ctx: GraphContext, value: str, values: str, included: str, lo: str, hi: str, better: str
) -> str:
    """A zero extremum gets its sign from the window: min is -0.0 if an included -0.0 is in
    it, max is 0.0 if an included 0.0 is in it (else the other zero). Each -0.0 leaves a Where
    through its third input (graph.py: onnxruntime's double Where drops the sign of a -0.0 it
    picks from the second)."""
    zero = ctx.constant(DType.FLOAT, 0.0)
    # 1 / -0.0 is -inf, 1 / 0.0 is +inf: the sign of a zero.
    side = "Less" if better == "Less" else "Greater"
    wanted = ctx.add(
        "And",
        [
            included,
            ctx.add(
                "And",
                [
                    ctx.add("Equal", [values, zero]),
                    ctx.add(side, [ctx.add("Div", [ctx.constant(DType.FLOAT, 1.0), values]), zero]),
                ],
            ),
        ],
        hint="wanted_zero",
    )
    seen = ctx.add(
        "Greater",
        [
            _segment_sums(ctx, _prefix(ctx, _flags(ctx, wanted), "zeros"), lo, hi, "zeros"),
            ctx.constant(DType.INT, 0),
        ],
        hint="seen",
    )
    plus, minus = ctx.constant(DType.FLOAT, 0.0), ctx.constant(DType.FLOAT, -0.0)
    # min: -0.0 where seen; max: -0.0 where not seen.
    positive = logical_not(seen, ctx) if better == "Less" else seen
    signed = ctx.add("Where", [positive, plus, minus], hint="signed_zero")
    nonzero = logical_not(ctx.add("Equal", [value, zero]), ctx)
    return ctx.add("Where", [nonzero, value, signed], hint="extremum")
