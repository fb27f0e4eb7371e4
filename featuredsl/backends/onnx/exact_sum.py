"""Exact, order-independent float64 range sums as ONNX nodes (window_sum / window_mean).

The graph computes the same bits as featuredsl.backends.numpy.exact_sum.exact_sums: the
correctly rounded sum of each range (math.fsum's value; a zero sum is +0.0, +inf with -inf is
NaN, only +inf is +inf, only -inf is -inf, a finite sum of DBL_MAX + half an ulp or more is
+-inf). Both are integer superaccumulators (Kulisch's long accumulator; Neal, arXiv:1505.05571;
Demmel & Hida, SIAM J. Sci. Comput. 25(4), 2003) over 32-bit limbs on the 2**-1074 grid, with
prefix sums over the events; the numbers agree because the correctly rounded sum is unique.

Opset 21 has no BitCast, so the limbs come from exact float operations. The top limb q of |x|
(the limb of |x| * 2**1074 holding its leading bit, |x| in [2**(32q - 1074), 2**(32q - 1042)))
is estimated from Log (applied to a normal number: vectorised Log kernels may flush subnormals;
Log is a few ulp off and varies between runtimes, which moves the estimate by at most one limb
near a boundary) and then corrected by exact comparisons with the boundaries 2**(32j - 1074),
so q itself is exact on every runtime. y = |x| * 2**(1074 - 32q) (two exact multiplications by
powers of two) lies in [1, 2**32), and Floor / subtraction / * 2**32 split it exactly into the
digits of limbs q, q - 1 and q - 2. Limb arithmetic is int64: a [limbs, events] matrix built
with GatherElements, CumSum over events, Gather at hi and lo; a Loop propagates the carries in
parallel (digit = sum & (2**32 - 1), carry = (sum - digit) / 2**32, an exact division) until
none is left: 2 rounds plus one per limb a carry ripples through, 3 or 4 in practice. A negative
sum is negated in closed form (two's complement with CumSum), and the rounding takes the top 64
bits of the magnitude as uint64 (BitShift, BitwiseOr), rounds to 53 bits (ties to even, sticky
bit from everything below) and scales the mantissa with two exact multiplications by powers of
two from a table (inf on overflow, as IEEE round-to-nearest).

Avoided (docs/parity.md): float32; int64 Mod; integer Div of negative numbers (only exact
divisions by 2**32, and by 2 of a positive number); int64 Max/Min-like ops (Clip, ReduceMax,
ReduceMin) only on limb numbers below 70, far from the +-2**31 where onnxruntime 1.22-1.31 go
wrong. Ranges must hold fewer than 2**31 events; a NaN value gives an unspecified result
(callers pass 0.0 for null or excluded events).

Cost: about 190 nodes (and 9 in the Loop body) whatever the data; work O(events * limbs +
ranges * limbs), limbs = 4 + the number of 32-bit limbs the values' exponents span (5 for
amounts between 1e-3 and 1e6). Measured with onnxruntime 1.32 (python, one thread, CPU time,
median): about 110 us for 1 row of 100 events (shared 2-core machine; up to 190 us under load),
1.0-1.2 ms for 100 rows x 100 events, 12-16 ms for 1000 rows x 100 events.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import onnx
from onnx import TensorProto, helper

from featuredsl.compiler.types import DType

if TYPE_CHECKING:
    from featuredsl.backends.onnx.context import GraphContext

_LIMBS = 66  # 32-bit limbs of the 2**-1074 grid that a finite double can reach (2**2098)
_POWERS = 600  # the table of powers of two holds 2**-600 .. 2**600
_MAX_ROUNDS = 80  # Loop bound; carries settle after at most limbs + 2 rounds (limbs <= 69)


def exact_sums(ctx: GraphContext, values: str, lo: str, hi: str) -> str:
    """Append nodes computing the correctly rounded sum of values[lo[i]:hi[i]] for every i.

    values: name of a float64[E] value without NaN; lo, hi: int64[N] with 0 <= lo <= hi <= E
    (Gather fails at run time for a position outside [0, E]) and hi - lo < 2**31. Returns the
    name of the float64[N] result, bit-identical to
    featuredsl.backends.numpy.exact_sum.exact_sums (see that module for the exceptions).
    """
    b = _Builder(ctx)
    positive = b.add("Equal", values, b.f(math.inf))
    negative = b.add("Equal", values, b.f(-math.inf))
    finite = b.add("Where", b.add("Or", positive, negative), b.f(0.0), values, hint="finite")
    magnitude = b.add("Abs", finite)

    # The top limb q of every value (|x| in [2**(32q - 1074), 2**(32q - 1042))): estimated from
    # Log (of a normal number: some vectorised Log kernels flush subnormals), off by at most
    # one near a limb boundary, then corrected by exact comparisons with the boundaries.
    nonzero = b.add("Greater", magnitude, b.f(0.0))
    tiny = b.add("Less", magnitude, b.f(2.0**-500))
    normal = b.add(
        "Where",
        nonzero,
        b.add("Mul", magnitude, b.add("Where", tiny, b.f(2.0**600), b.f(1.0))),
        b.f(1.0),
    )
    binade = b.add(
        "Sub",
        b.add("Mul", b.add("Log", normal), b.f(1.0 / math.log(2.0))),
        b.add("Where", tiny, b.f(600.0 - 1074.0), b.f(-1074.0)),
    )
    guess = b.add("Cast", b.add("Floor", b.add("Div", binade, b.f(32.0))), to=TensorProto.INT64)
    guess = b.add("Clip", guess, b.i(0), b.i(_LIMBS - 1))  # small ints: Clip is exact
    boundaries = ctx.vector(
        DType.FLOAT, [2.0 ** (32 * j - 1074) for j in range(_LIMBS)] + [math.inf]
    )
    too_high = b.int64(b.add("Less", magnitude, b.add("Gather", boundaries, guess)))
    too_low = b.add(
        "GreaterOrEqual", magnitude, b.add("Gather", boundaries, b.add("Add", guess, b.i(1)))
    )
    top = b.add("Add", b.add("Sub", guess, too_high), b.int64(too_low), hint="top_limb")
    ups = [1074 - 32 * q for q in range(_LIMBS)]
    first_factor = ctx.vector(DType.FLOAT, [2.0 ** -(-u // 2) for u in ups])
    second_factor = ctx.vector(DType.FLOAT, [2.0 ** (u // 2) for u in ups])
    scaled = b.add("Mul", magnitude, b.add("Gather", first_factor, top))
    scaled = b.add("Mul", scaled, b.add("Gather", second_factor, top), hint="scaled")
    two32 = b.f(2.0**32)
    high = b.add("Floor", scaled)
    rest = b.add("Mul", b.add("Sub", scaled, high), two32)
    middle = b.add("Floor", rest)
    low = b.add("Mul", b.add("Sub", rest, middle), two32)
    sign = b.add("Where", b.add("Less", finite, b.f(0.0)), b.f(-1.0), b.f(1.0), hint="sign")
    # Rows: 0, the digits of limbs q - 2, q - 1, q (signed, exact in int64), 0.
    digit_rows = b.add(
        "Concat", *(b.unsqueeze(b.add("Mul", d, sign), 0) for d in (low, middle, high)), axis=0
    )
    digit_rows = b.add("Pad", digit_rows, ctx.int64s(1, 0, 1, 0))
    digit_rows = b.add("Cast", digit_rows, to=TensorProto.INT64, hint="digits")  # int64[5, E]

    # Limbs first .. last + 1 (absolute limb numbers) cover every nonzero value's limbs and
    # one more for the carries. Layout [limb, event] and [limb, range]: long innermost spans.
    last = b.add(
        "ReduceMax",
        b.add("Concat", b.add("Where", nonzero, top, b.i(0)), ctx.int64s(0), axis=0),
        keepdims=0,
    )
    lowest = b.add(
        "ReduceMin",
        b.add("Concat", b.add("Where", nonzero, top, b.i(_LIMBS)), ctx.int64s(_LIMBS), axis=0),
        keepdims=0,
    )
    lowest = b.add("Where", b.add("Greater", lowest, last), last, lowest)  # no nonzero value
    first = b.add("Sub", lowest, b.i(2), hint="first_limb")
    limbs = b.add("Range", first, b.add("Add", last, b.i(2)), b.i(1), hint="limbs")
    width = b.add("Squeeze", b.add("Shape", limbs))
    row = b.add("Where", nonzero, b.add("Sub", top, b.add("Add", first, b.i(3))), b.i(0))
    column = b.add("Range", b.i(0), width, b.i(1), hint="column")
    # cells[k, e] = digit_rows[k - row[e], e], row[e] = q - first - 3, clipped to the zero rows.
    pick = b.add("Sub", b.unsqueeze(column, 1), b.unsqueeze(row, 0))
    pick = b.add("Clip", pick, b.i(0), b.i(4))  # small ints: Clip is exact
    cells = b.add("GatherElements", digit_rows, pick, axis=0, hint="limb_digits")

    # Prefix sums over the events: limb sums of every range, and its numbers of +inf and -inf.
    flags = [b.unsqueeze(b.int64(f), 0) for f in (positive, negative)]
    cells = b.add("Concat", cells, *flags, axis=0)
    prefix = b.add("CumSum", b.add("Pad", cells, ctx.int64s(0, 1, 0, 0)), b.i(1))
    totals = b.add(
        "Sub", b.add("Gather", prefix, hi, axis=1), b.add("Gather", prefix, lo, axis=1)
    )  # int64[limbs + 2, N]
    sums = b.add("Slice", totals, ctx.int64s(0), ctx.int64s(-2), ctx.int64s(0), hint="limb_sums")
    infinities = b.add(
        "Greater", b.add("Slice", totals, ctx.int64s(-2), ctx.int64s(2**62), ctx.int64s(0)), b.i(0)
    )
    ups_present, downs_present = (
        b.add("Slice", infinities, ctx.int64s(k), ctx.int64s(k + 1), ctx.int64s(0)) for k in (0, 1)
    )

    # Normalise: base-2**32 digits in [0, 2**32) below a signed top row.
    is_top = b.add("Equal", b.unsqueeze(column, 1), b.add("Sub", width, b.i(1)))
    masks = b.add("Where", is_top, b.i(-1), b.i(0xFFFFFFFF), hint="digit_mask")
    digits = _propagate_carries(b, sums, masks)

    # Magnitude: two's complement negation where the top row is negative.
    negative_sum = b.add(
        "Less", b.add("Slice", digits, ctx.int64s(-1), ctx.int64s(2**62), ctx.int64s(0)), b.i(0)
    )  # bool[1, N]
    nonzero_digit = b.int64(b.add("Not", b.add("Equal", digits, b.i(0))))
    seen = b.add("CumSum", nonzero_digit, b.i(0))  # nonzero digits up to and including k
    borrow = b.int64(b.add("Greater", b.add("Sub", seen, nonzero_digit), b.i(0)))
    base = b.add("Where", is_top, b.i(0), b.i(2**32))
    negated = b.add(
        "Where",
        b.add("Equal", seen, b.i(0)),
        b.i(0),
        b.add("Sub", b.add("Sub", base, digits), borrow),
    )
    magnitude_digits = b.add("Where", negative_sum, negated, digits, hint="magnitude")

    # The top nonzero digit (index count - 1), the two below it, and a sticky bit.
    nonzero_digit = b.int64(b.add("Not", b.add("Equal", magnitude_digits, b.i(0))))
    from_top = b.add("CumSum", nonzero_digit, b.i(0), reverse=1)
    count = b.add(
        "ReduceSum",
        b.int64(b.add("Greater", from_top, b.i(0))),
        ctx.int64s(0),
        keepdims=1,
        hint="top_digit",
    )  # int64[1, N]
    zero_sum = b.add("Equal", count, b.i(0))
    count = b.add("Where", zero_sum, b.i(1), count)
    padded = b.add("Pad", magnitude_digits, ctx.int64s(2, 0, 0, 0))
    leading, following, third = (
        b.add("GatherElements", padded, b.add("Add", count, b.i(k)), axis=0) for k in (1, 0, -1)
    )
    below = b.add("Less", b.unsqueeze(column, 1), b.add("Sub", count, b.i(3)))
    far_below = b.add(
        "ReduceSum", b.add("Mul", nonzero_digit, b.int64(below)), ctx.int64s(0), keepdims=1
    )
    powers = ctx.vector(DType.INT, [2**k for k in range(32)])
    bits = b.add(
        "ReduceSum",
        b.int64(b.add("GreaterOrEqual", leading, b.unsqueeze(powers, 1))),
        ctx.int64s(0),
        keepdims=1,
        hint="bits",
    )
    bits = b.add("Where", zero_sum, b.i(1), bits)  # 1..32 bits in the leading digit

    # The top 64 bits of the magnitude (uint64), rounded to 53 bits, ties to even.
    def unsigned(name: str) -> str:
        return b.add("Cast", name, to=TensorProto.UINT64)

    def shift(name: str, by: str, direction: str) -> str:
        return b.add("BitShift", name, by, direction=direction)

    shift_bits = unsigned(bits)
    window = b.add(
        "BitwiseOr",
        b.add(
            "BitwiseOr",
            shift(unsigned(leading), unsigned(b.add("Sub", b.i(64), bits)), "LEFT"),
            shift(unsigned(following), unsigned(b.add("Sub", b.i(32), bits)), "LEFT"),
        ),
        shift(unsigned(third), shift_bits, "RIGHT"),
        hint="window",
    )
    cut = shift(shift(unsigned(third), shift_bits, "RIGHT"), shift_bits, "LEFT")
    cut = b.add("Cast", cut, to=TensorProto.INT64)  # third without its bits below the window
    sticky = b.add(
        "Or",
        b.add("Not", b.add("Equal", cut, third)),
        b.add("Greater", far_below, b.i(0)),
    )
    eleven = unsigned(b.i(11))
    mantissa = b.add("Cast", shift(window, eleven, "RIGHT"), to=TensorProto.INT64)
    remainder = b.add(
        "Cast", b.add("BitwiseAnd", window, unsigned(b.i(0x7FF))), to=TensorProto.INT64
    )
    odd = b.add("Equal", b.add("BitwiseAnd", mantissa, b.i(1)), b.i(1))
    round_up = b.add(
        "Or",
        b.add("Greater", remainder, b.i(0x400)),
        b.add("And", b.add("Equal", remainder, b.i(0x400)), b.add("Or", sticky, odd)),
    )
    rounded = b.add(
        "Cast", b.add("Add", mantissa, b.int64(round_up)), to=TensorProto.DOUBLE, hint="mantissa"
    )
    # value = rounded * 2**exponent, exponent = 32 (first + count - 1) + bits - 53 - 1074,
    # applied as 2**floor(exponent / 2) * 2**ceil(exponent / 2) (exact; inf on overflow).
    exponent = b.add(
        "Add",
        b.add("Mul", b.add("Add", first, b.add("Sub", count, b.i(1))), b.i(32)),
        b.add("Sub", bits, b.i(53 + 1074)),
        hint="exponent",
    )
    half = b.add("Sub", b.add("Div", b.add("Add", exponent, b.i(2000)), b.i(2)), b.i(1000))
    other = b.add("Sub", exponent, half)
    table = ctx.vector(DType.FLOAT, [2.0**k for k in range(-_POWERS, _POWERS + 1)])
    value = b.add("Mul", rounded, b.add("Gather", table, b.add("Add", half, b.i(_POWERS))))
    value = b.add("Mul", value, b.add("Gather", table, b.add("Add", other, b.i(_POWERS))))
    value = b.add("Mul", value, b.add("Where", negative_sum, b.f(-1.0), b.f(1.0)))
    value = b.add("Where", zero_sum, b.f(0.0), value)
    value = b.add("Where", downs_present, b.f(-math.inf), value)
    value = b.add("Where", ups_present, b.f(math.inf), value)
    both = b.add("And", ups_present, downs_present)
    value = b.add("Where", both, b.f(math.nan), value)
    return b.add("Squeeze", value, ctx.int64s(0), hint="exact_sum")


def _propagate_carries(b: _Builder, sums: str, masks: str) -> str:
    """A Loop: digit = sum & mask, carry = (sum - digit) / 2**32 (exact), sum = digit + the
    carry of the column below, until no carry is left. The top column's mask is -1: it keeps
    its carries, so it ends signed (|value| < 2**31), the others in [0, 2**32)."""
    ctx = b.ctx
    nodes: list[onnx.NodeProto] = []
    inner = _Builder(ctx, nodes)
    step, condition, current = (ctx.fresh("carry_" + n) for n in ("step", "cond", "sums"))
    digit = inner.add("BitwiseAnd", current, masks)
    carry = inner.add("Div", inner.add("Sub", current, digit), inner.i(2**32))
    moved = inner.add(
        "Pad",
        inner.add("Slice", carry, ctx.int64s(0), ctx.int64s(-1), ctx.int64s(0)),
        ctx.int64s(1, 0, 0, 0),
    )
    settled = inner.add("Add", digit, moved)
    pending = inner.add(
        "Greater", inner.add("ReduceSum", inner.add("Abs", carry), keepdims=0), inner.i(0)
    )
    body = helper.make_graph(
        nodes,
        ctx.fresh("carries"),
        [
            helper.make_tensor_value_info(step, TensorProto.INT64, []),
            helper.make_tensor_value_info(condition, TensorProto.BOOL, []),
            helper.make_tensor_value_info(current, TensorProto.INT64, None),
        ],
        [
            helper.make_tensor_value_info(pending, TensorProto.BOOL, []),
            helper.make_tensor_value_info(settled, TensorProto.INT64, None),
        ],
    )
    return b.add(
        "Loop",
        b.i(_MAX_ROUNDS),
        b.ctx.constant(DType.BOOL, True),
        sums,
        body=body,
        hint="digits",
    )


class _Builder:
    """Shorthands over a GraphContext; nodes go to `nodes` (a Loop body) or the graph."""

    def __init__(self, ctx: GraphContext, nodes: list[onnx.NodeProto] | None = None) -> None:
        self.ctx = ctx
        self.nodes = ctx.nodes if nodes is None else nodes

    def add(self, op: str, *inputs: str, hint: str | None = None, **attrs: Any) -> str:
        output = self.ctx.fresh(self.ctx.prefix + (hint or op.lower()))
        self.nodes.append(helper.make_node(op, list(inputs), [output], name=output, **attrs))
        return output

    def f(self, value: float) -> str:
        return self.ctx.constant(DType.FLOAT, value)

    def i(self, value: int) -> str:
        return self.ctx.constant(DType.INT, value)

    def int64(self, name: str) -> str:
        return self.add("Cast", name, to=TensorProto.INT64)

    def unsqueeze(self, name: str, axis: int) -> str:
        return self.add("Unsqueeze", name, self.ctx.int64s(axis))
