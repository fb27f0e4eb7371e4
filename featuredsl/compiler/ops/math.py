"""Elementwise math: sign, abs, min/max/clip, roots, logs and exponentials, rounding.

log, exp, sin, cos and friends are computed by `featuredsl.compiler.libm` from exactly rounded
operations, so both runtimes give the same bits."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from featuredsl.compiler import exact, libm
from featuredsl.compiler.builder import (
    Emitter,
    LoweringError,
    Value,
    as_float,
    literal,
    promote,
)
from featuredsl.compiler.ir import Node
from featuredsl.compiler.op import (
    A_NUM,
    B_NUM,
    INT_ONLY,
    NUM,
    PROPAGATE,
    ConstantCheck,
    Op,
    Returns,
    X,
    param,
)
from featuredsl.compiler.types import DType


def _fold(e: Emitter, op: str, values: Sequence[Value]) -> Value:
    nodes = promote(e, *values)
    result = nodes[0]
    for node in nodes[1:]:
        result = e.binary(op, result, node)
    return Value(result)


def _float_unary(op: str) -> Any:
    def lower(e: Emitter, x: Value) -> Value:
        return Value(e.unary(op, as_float(e, x)))

    lower.__name__ = f"lower_{op}"
    return lower


def lower_abs(e: Emitter, x: Value) -> Value:
    return Value(e.unary("abs", x.node))


def lower_sign(e: Emitter, x: Value) -> Value:
    # 1 if x > 0, -1 if x < 0, else x itself: so +-0 keep their sign and NaN stays NaN.
    zero = e.const(x.dtype, 0)
    one = e.const(x.dtype, 1)
    minus_one = e.const(x.dtype, -1)
    negative = e.where(e.binary("lt", x.node, zero), minus_one, x.node)
    return Value(e.where(e.binary("gt", x.node, zero), one, negative))


def lower_minimum(e: Emitter, *values: Value) -> Value:
    return _fold(e, "minimum", values)


def lower_maximum(e: Emitter, *values: Value) -> Value:
    return _fold(e, "maximum", values)


def lower_clip(e: Emitter, x: Value, lo: Value, hi: Value) -> Value:
    a, low, high = promote(e, x, lo, hi)
    return Value(e.binary("minimum", e.binary("maximum", a, low), high))


def lower_pow(e: Emitter, a: Value, b: Value) -> Value:
    return Value(e.binary("pow", as_float(e, a), as_float(e, b)))


lower_sqrt = _float_unary("sqrt")


def lower_cbrt(e: Emitter, x: Value) -> Value:
    # y0 = exp(log|x| / 3) (within a few ULP), then one Newton step y - (y - |x| / y**2) / 3,
    # written so that no intermediate overflows or underflows for any finite double; the sign
    # is put back last. 0, -0.0, +-inf and NaN are returned as they are, as C's cbrt does.
    a = as_float(e, x)
    m = e.unary("abs", a)
    y = libm.call(e, "exp", e.div(libm.call(e, "log", m), e.f(3.0)))
    y = e.sub(y, e.div(e.sub(y, e.div(m, e.mul(y, y))), e.f(3.0)))
    signed = e.where(e.binary("lt", a, e.f(0.0)), e.unary("neg", y), y)
    special = e.or_(e.eq(m, e.f(0.0)), e.eq(m, e.f(math.inf)))
    return Value(e.where(special, a, signed))


def lower_log(e: Emitter, x: Value) -> Value:
    return Value(libm.call(e, "log", as_float(e, x)))


def lower_log1p(e: Emitter, x: Value) -> Value:
    return Value(libm.call(e, "log1p", as_float(e, x)))


def lower_exp(e: Emitter, x: Value) -> Value:
    return Value(libm.call(e, "exp", as_float(e, x)))


def lower_expm1(e: Emitter, x: Value) -> Value:
    return Value(libm.call(e, "expm1", as_float(e, x)))


def lower_sin(e: Emitter, x: Value) -> Value:
    return Value(libm.call(e, "sin", as_float(e, x)))


def lower_cos(e: Emitter, x: Value) -> Value:
    return Value(libm.call(e, "cos", as_float(e, x)))


def lower_sigmoid(e: Emitter, x: Value) -> Value:
    a = as_float(e, x)
    return Value(e.div(e.f(1.0), e.add(e.f(1.0), libm.call(e, "exp", e.unary("neg", a)))))


def lower_round(e: Emitter, x: Value, ndigits: Value | None = None) -> Value:
    digits = 0 if ndigits is None else int(literal(ndigits))
    if x.dtype is DType.INT:
        return Value(x.node if digits >= 0 else _round_int(e, x, -digits, ndigits))
    return Value(exact.round_decimal(e, x.node, digits))


def _round_int(e: Emitter, x: Value, places: int, ndigits: Value | None) -> Node:
    """Python's round(n, -places) on int64: the nearest multiple of 10**places, ties to even."""
    if places > MAX_INT_ROUND_PLACES:
        raise LoweringError(
            f"round of an int to 10**{places} does not fit int64",
            f"use ndigits >= -{MAX_INT_ROUND_PLACES}, or round float(n)",
            ndigits.node.span if ndigits is not None else None,
        )
    step = e.i(10**places)
    below = e.mod(x.node, step)  # in [0, step): Python's %
    base = e.sub(x.node, below)
    twice = e.mul(below, e.i(2))
    odd = e.eq(e.mod(e.floordiv(x.node, step), e.i(2)), e.i(1))
    up = e.or_(e.binary("gt", twice, step), e.and_(e.eq(twice, step), odd))
    return e.add(base, e.where(up, step, e.i(0)))


def lower_floor(e: Emitter, x: Value) -> Value:
    return Value(x.node if x.dtype is DType.INT else e.unary("floor", x.node))


def lower_ceil(e: Emitter, x: Value) -> Value:
    return Value(x.node if x.dtype is DType.INT else e.unary("ceil", x.node))


MAX_ROUND_DIGITS = 22  # 10.0**22 is the largest power of ten a double holds exactly
MAX_INT_ROUND_PLACES = 18  # 10**18 is the largest power of ten int64 holds

OPS: tuple[Op, ...] = (
    Op(
        "abs",
        "math",
        (X,),
        Returns.SAME,
        PROPAGATE,
        lower_abs,
        "Absolute value.",
        "abs(x)",
        nan_propagating=True,
    ),
    Op(
        "sign",
        "math",
        (X,),
        Returns.SAME,
        PROPAGATE,
        lower_sign,
        "1 if x > 0, -1 if x < 0, otherwise x itself (so 0.0, -0.0 and NaN are returned unchanged).",
        "sign(x)",
        nan_propagating=True,
    ),
    Op(
        "min",
        "math",
        (A_NUM, B_NUM),
        Returns.PROMOTE,
        PROPAGATE,
        lower_minimum,
        "Elementwise minimum of two or more values; NaN if any is NaN. With one argument, min is the analyzer.",
        "min(x, 0)",
        variadic=True,
        nan_propagating=True,
    ),
    Op(
        "max",
        "math",
        (A_NUM, B_NUM),
        Returns.PROMOTE,
        PROPAGATE,
        lower_maximum,
        "Elementwise maximum of two or more values; NaN if any is NaN. With one argument, max is the analyzer.",
        "max(n, 1)",
        variadic=True,
        nan_propagating=True,
    ),
    Op(
        "clip",
        "math",
        (X, param("lo", NUM), param("hi", NUM)),
        Returns.PROMOTE,
        PROPAGATE,
        lower_clip,
        "min(max(x, lo), hi). A NaN x or a NaN bound gives NaN (unlike onnx Clip, which ignores NaN bounds).",
        "clip(x, -3, 3)",
        nan_propagating=True,
        constant_checks=(
            ConstantCheck(
                ("lo", "hi"),
                lambda lo, hi: lo > hi,
                "clip bounds are reversed (lo > hi)",
                "write clip(x, lo, hi) with lo <= hi",
            ),
        ),
    ),
    Op(
        "pow",
        "math",
        (A_NUM, B_NUM),
        Returns.FLOAT,
        PROPAGATE,
        lower_pow,
        "a ** b as float. Within the documented ULP bound of numpy (see docs/parity.md).",
        "pow(x, 0.5)",
    ),
    Op(
        "sqrt",
        "math",
        (X,),
        Returns.FLOAT,
        PROPAGATE,
        lower_sqrt,
        "Square root, correctly rounded (bit-identical). sqrt of a negative number is NaN.",
        "sqrt(abs(x))",
        nan_propagating=True,
        constant_checks=(
            ConstantCheck(
                ("x",),
                lambda x: x < 0,
                "sqrt of a negative constant is NaN",
                "take sqrt(abs(...)) or fix the sign",
            ),
        ),
    ),
    Op(
        "cbrt",
        "math",
        (X,),
        Returns.FLOAT,
        PROPAGATE,
        lower_cbrt,
        "Cube root, defined for negative numbers too (cbrt(-8) is -2); exact for perfect cubes, "
        "within 1 ULP of C's cbrt elsewhere, and bit-identical in both runtimes (computed by "
        "featuredsl from exactly rounded operations).",
        "cbrt(x)",
        nan_propagating=True,
    ),
    Op(
        "log",
        "math",
        (X,),
        Returns.FLOAT,
        PROPAGATE,
        lower_log,
        "Natural logarithm; log(0) = -inf, log(negative) = NaN. Computed by featuredsl itself (fdlibm's "
        "algorithm from exactly rounded operations), so both runtimes agree bit for bit; within 1 ULP of "
        "numpy.log.",
        "log(abs(x) + 1)",
        nan_propagating=True,
        constant_checks=(
            ConstantCheck(
                ("x",),
                lambda x: x < 0,
                "log of a negative constant is NaN",
                "take log(abs(...)) or fix the sign",
            ),
        ),
    ),
    Op(
        "log1p",
        "math",
        (X,),
        Returns.FLOAT,
        PROPAGATE,
        lower_log1p,
        "log(1 + x), accurate for small x: computed as log(u) * (x / (u - 1)) with u = 1 + x (Goldberg), "
        "x itself when u == 1, +inf when u is +inf.",
        "log1p(abs(x))",
        nan_propagating=True,
        constant_checks=(
            ConstantCheck(
                ("x",),
                lambda x: x < -1,
                "log1p of a constant below -1 is NaN",
                "log1p(x) is log(1 + x): x must be >= -1",
            ),
        ),
    ),
    Op(
        "exp",
        "math",
        (X,),
        Returns.FLOAT,
        PROPAGATE,
        lower_exp,
        "e ** x (0 below -745.13, +inf above 709.78). Computed by featuredsl itself (fdlibm's algorithm), "
        "bit-identical in both runtimes; within 1 ULP of numpy.exp.",
        "exp(-abs(x))",
        nan_propagating=True,
    ),
    Op(
        "expm1",
        "math",
        (X,),
        Returns.FLOAT,
        PROPAGATE,
        lower_expm1,
        "exp(x) - 1 with u = exp(x): for |x| < 0.5 Kahan's (u - 1) * x / log(u), accurate for small x "
        "(x itself when u == 1); otherwise u - 1. Bit-identical in both runtimes.",
        "expm1(clip(x, -5, 5))",
        nan_propagating=True,
    ),
    Op(
        "sin",
        "math",
        (X,),
        Returns.FLOAT,
        PROPAGATE,
        lower_sin,
        "Sine of radians. Computed by featuredsl itself (fdlibm's reduction by pi/2 and kernels), "
        "bit-identical in both runtimes; within 2 ULP of numpy.sin for |x| < 1.6e6, less accurate beyond, "
        "NaN for |x| >= 2**52.",
        "sin(2 * pi * hour(t) / 24)",
        nan_propagating=True,
    ),
    Op(
        "cos",
        "math",
        (X,),
        Returns.FLOAT,
        PROPAGATE,
        lower_cos,
        "Cosine of radians; same method and accuracy as sin.",
        "cos(2 * pi * hour(t) / 24)",
        nan_propagating=True,
    ),
    Op(
        "sigmoid",
        "math",
        (X,),
        Returns.FLOAT,
        PROPAGATE,
        lower_sigmoid,
        "1 / (1 + exp(-x)), computed in that order.",
        "sigmoid(x)",
        nan_propagating=True,
    ),
    Op(
        "round",
        "math",
        (
            X,
            param(
                "ndigits",
                INT_ONLY,
                literal=True,
                optional=True,
                default="0",
                row=False,
                range=(-MAX_ROUND_DIGITS, MAX_ROUND_DIGITS),
                typical=(-3, 4),
                hint="10**ndigits must be an exact double: keep |ndigits| <= 22",
            ),
        ),
        Returns.SAME,
        PROPAGATE,
        lower_round,
        "Python's round(x, ndigits), exactly: the exact binary value of x is rounded half to even "
        "at ndigits decimal places and the nearest double to that decimal is returned, so "
        "round(2.675, 2) is 2.67 (the double 2.675 lies just below the tie) and round(0.125, 2) "
        "is 0.12; -0.0, +-inf and NaN come back unchanged and a zero result keeps the sign of x. "
        "Ints stay ints: round(n, -k) is the nearest multiple of 10**k, ties to even "
        "(round(25, -1) is 20; k <= 18). Computed from exactly rounded operations "
        "(error-free transformations), bit-identical in both runtimes.",
        "round(x, 2)",
        nan_propagating=True,
    ),
    Op(
        "floor",
        "math",
        (X,),
        Returns.SAME,
        PROPAGATE,
        lower_floor,
        "Round toward -inf (ints unchanged).",
        "floor(x)",
        nan_propagating=True,
    ),
    Op(
        "ceil",
        "math",
        (X,),
        Returns.SAME,
        PROPAGATE,
        lower_ceil,
        "Round toward +inf (ints unchanged).",
        "ceil(x)",
        nan_propagating=True,
    ),
)
