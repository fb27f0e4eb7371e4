"""Lowering: surface ops of the catalogue -> primitive IR nodes (featuredsl.compiler.primitives).

Both backends then implement only primitives, so a formula written here (log1p, expm1, sigmoid,
float %, calendar arithmetic, scalers) issues the same IEEE operations in the same order in
numpy and in onnxruntime by construction.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from featuredsl.compiler.ir import Builder, Node
from featuredsl.compiler.types import DType, Shape, Type
from featuredsl.language.diagnostics import Span

MICROS_PER_SECOND = 1_000_000
MICROS_PER_DAY = 86_400 * MICROS_PER_SECOND
INT64_MIN = -(2**63)
TWO_POW_63 = 2.0**63
TWO_POW_52 = 2.0**52

ARITHMETIC_PRIMITIVES = {
    "add",
    "sub",
    "mul",
    "div",
    "neg",
    "int_floordiv",
    "int_mod",
    "minimum",
    "maximum",
    "abs",
}
COMPARISON_PRIMITIVES = {"eq", "ne", "lt", "le", "gt", "ge"}


@dataclass(frozen=True)
class Value:
    """A checked expression: its values, and how it is null (a mask node, or NaN for floats)."""

    node: Node
    mask: Node | None = None
    nullable: bool = False
    null_literal: bool = False

    @property
    def dtype(self) -> DType:
        return self.node.dtype

    @property
    def shape(self) -> Shape:
        return self.node.shape

    @property
    def width(self) -> int | None:
        return self.node.type.width


class LoweringError(Exception):
    """A problem found while lowering (e.g. unsorted literal boundaries); becomes a diagnostic."""

    def __init__(self, message: str, hint: str = "", span: Span | None = None):
        super().__init__(message)
        self.hint = hint
        self.span = span


class Emitter:
    """Typed constructors for primitive nodes."""

    def __init__(self, builder: Builder, span: Span):
        self.b = builder
        self.span = span

    # --- leaves and shapes
    def const(self, dtype: DType, value: Any) -> Node:
        return self.b.const(dtype, value, self.span)

    def f(self, value: float) -> Node:
        return self.const(DType.FLOAT, value)

    def i(self, value: int) -> Node:
        return self.const(DType.INT, value)

    def node(
        self, op: str, args: Sequence[Node], dtype: DType, width: int | None = 1, **attrs: Any
    ) -> Node:
        shape = Shape.ROW if any(a.shape is Shape.ROW for a in args) else Shape.SCALAR
        return self.b.node(op, args, Type(dtype, shape, width), attrs, self.span)

    # --- arithmetic
    def binary(self, op: str, a: Node, b: Node) -> Node:
        if a.dtype != b.dtype:
            raise AssertionError(f"{op}: operand types differ ({a.dtype} vs {b.dtype})")
        dtype = DType.BOOL if op in COMPARISON_PRIMITIVES else a.dtype
        return self.node(op, (a, b), dtype)

    def unary(self, op: str, a: Node, dtype: DType | None = None) -> Node:
        return self.node(op, (a,), dtype or a.dtype)

    def add(self, a: Node, b: Node) -> Node:
        return self.binary("add", a, b)

    def sub(self, a: Node, b: Node) -> Node:
        return self.binary("sub", a, b)

    def mul(self, a: Node, b: Node) -> Node:
        return self.binary("mul", a, b)

    def div(self, a: Node, b: Node) -> Node:
        return self.binary("div", a, b)

    def floordiv(self, a: Node, b: Node) -> Node:
        return self.binary("int_floordiv", a, b)

    def mod(self, a: Node, b: Node) -> Node:
        return self.binary("int_mod", a, b)

    def where(self, condition: Node, a: Node, b: Node) -> Node:
        if a.dtype != b.dtype:
            raise AssertionError(f"where: branch types differ ({a.dtype} vs {b.dtype})")
        return self.node("where", (condition, a, b), a.dtype, a.type.width)

    def eq(self, a: Node, b: Node) -> Node:
        return self.binary("eq", a, b)

    def or_(self, a: Node, b: Node) -> Node:
        return self.binary("or", a, b)

    def and_(self, a: Node, b: Node) -> Node:
        return self.binary("and", a, b)

    def not_(self, a: Node) -> Node:
        return self.unary("not", a)

    def isnan(self, a: Node) -> Node:
        return self.unary("isnan", a, DType.BOOL)

    def to_float(self, a: Node) -> Node:
        if a.dtype is DType.FLOAT:
            return a
        if a.op == "const" and a.dtype is DType.INT:
            # Python's int -> float rounds to nearest-even, like both runtimes' conversion.
            return self.f(float(a.attr("value")))
        return self.unary("to_float", a, DType.FLOAT)

    def to_int(self, a: Node) -> Node:
        return a if a.dtype is DType.INT else self.unary("to_int", a, DType.INT)

    def broadcast(self, scalar: Node, like: Node) -> Node:
        return self.b.node(
            "broadcast", (scalar, like), Type(scalar.dtype, Shape.ROW), {}, self.span
        )


# ----------------------------------------------------------------------------- helpers


def promote(e: Emitter, *values: Value) -> list[Node]:
    """int with float -> float; the promotion rule for arithmetic, comparisons and branches."""
    if any(v.dtype is DType.FLOAT for v in values):
        return [e.to_float(v.node) for v in values]
    return [v.node for v in values]


def as_float(e: Emitter, value: Value) -> Node:
    return e.to_float(value.node)


def mask_or(e: Emitter, masks: Sequence[Node | None]) -> Node | None:
    present = [m for m in masks if m is not None]
    if not present:
        return None
    result = present[0]
    for mask in present[1:]:
        result = e.or_(result, mask)
    return result


def null_mask(e: Emitter, value: Value) -> Node:
    """A bool node, True where value is null (for floats: NaN)."""
    if value.mask is not None:
        return value.mask
    if value.nullable and value.dtype is DType.FLOAT:
        return e.isnan(value.node)
    return e.const(DType.BOOL, False)


def placeholder(e: Emitter, dtype: DType) -> Node:
    """The value stored under a null mask: documented, never observed by a null-safe op."""
    return {
        DType.FLOAT: e.f(math.nan),
        DType.INT: e.i(0),
        DType.BOOL: e.const(DType.BOOL, False),
        DType.STRING: e.const(DType.STRING, ""),
        DType.TIMESTAMP: e.const(DType.TIMESTAMP, 0),
    }[dtype]


# ----------------------------------------------------------------------------- arithmetic


def lower_add(e: Emitter, a: Value, b: Value) -> Value:
    x, y = promote(e, a, b)
    return Value(e.add(x, y))


def lower_sub(e: Emitter, a: Value, b: Value) -> Value:
    x, y = promote(e, a, b)
    return Value(e.sub(x, y))


def lower_mul(e: Emitter, a: Value, b: Value) -> Value:
    x, y = promote(e, a, b)
    return Value(e.mul(x, y))


def lower_truediv(e: Emitter, a: Value, b: Value) -> Value:
    return Value(e.div(as_float(e, a), as_float(e, b)))


def lower_floordiv(e: Emitter, a: Value, b: Value) -> Value:
    if a.dtype is DType.INT and b.dtype is DType.INT:
        return Value(e.floordiv(a.node, b.node))
    x, y = promote(e, a, b)
    return Value(e.unary("floor", e.div(x, y)))


def lower_mod(e: Emitter, a: Value, b: Value) -> Value:
    if a.dtype is DType.INT and b.dtype is DType.INT:
        return Value(e.mod(a.node, b.node))
    x, y = promote(e, a, b)
    return Value(e.sub(x, e.mul(y, e.unary("floor", e.div(x, y)))))


def lower_pow(e: Emitter, a: Value, b: Value) -> Value:
    return Value(e.binary("pow", as_float(e, a), as_float(e, b)))


def lower_neg(e: Emitter, a: Value) -> Value:
    return Value(e.unary("neg", a.node))


def lower_abs(e: Emitter, x: Value) -> Value:
    return Value(e.unary("abs", x.node))


def lower_sign(e: Emitter, x: Value) -> Value:
    # 1 if x > 0, -1 if x < 0, else x itself: so +-0 keep their sign and NaN stays NaN.
    zero = e.const(x.dtype, 0)
    one = e.const(x.dtype, 1)
    minus_one = e.const(x.dtype, -1)
    negative = e.where(e.binary("lt", x.node, zero), minus_one, x.node)
    return Value(e.where(e.binary("gt", x.node, zero), one, negative))


def _fold(e: Emitter, op: str, values: Sequence[Value]) -> Value:
    nodes = promote(e, *values)
    result = nodes[0]
    for node in nodes[1:]:
        result = e.binary(op, result, node)
    return Value(result)


def lower_minimum(e: Emitter, *values: Value) -> Value:
    return _fold(e, "minimum", values)


def lower_maximum(e: Emitter, *values: Value) -> Value:
    return _fold(e, "maximum", values)


def lower_clip(e: Emitter, x: Value, lo: Value, hi: Value) -> Value:
    a, low, high = promote(e, x, lo, hi)
    return Value(e.binary("minimum", e.binary("maximum", a, low), high))


def _float_unary(op: str) -> Any:
    def lower(e: Emitter, x: Value) -> Value:
        return Value(e.unary(op, as_float(e, x)))

    lower.__name__ = f"lower_{op}"
    return lower


lower_sqrt = _float_unary("sqrt")


def lower_log(e: Emitter, x: Value) -> Value:
    return Value(log_node(e, as_float(e, x)))


def lower_exp(e: Emitter, x: Value) -> Value:
    return Value(exp_node(e, as_float(e, x)))


# sin and cos are lowered to +, -, *, round and where, so both runtimes compute them bit for bit
# alike (onnxruntime's vectorised Sin/Cos differ from numpy by a few ULP, enough to flip a tree
# split or a bucket near a zero such as sin(pi)). The method is fdlibm's: Cody-Waite reduction by
# pi/2 with a three-part constant, then the minimax kernels on [-pi/4, pi/4].
TWO_OVER_PI = 6.36619772367581382433e-01
PIO2 = (1.57079632673412561417e00, 6.07710050630396597660e-11, 2.02226624871116645580e-21)
SIN_POLY = (
    -1.66666666666666324348e-01,
    8.33333333332248946124e-03,
    -1.98412698298579493134e-04,
    2.75573137070700676789e-06,
    -2.50507602534068634195e-08,
    1.58969099521155010221e-10,
)
COS_POLY = (
    4.16666666666666019037e-02,
    -1.38888888888741095749e-03,
    2.48015872894767294178e-05,
    -2.75573143513906633035e-07,
    2.08757232129817482790e-09,
    -1.13596475577881948265e-11,
)


def _horner(e: Emitter, z: Node, coefficients: Sequence[float]) -> Node:
    result = e.f(coefficients[-1])
    for c in reversed(coefficients[:-1]):
        result = e.add(e.f(c), e.mul(z, result))
    return result


def _reduce_pio2(e: Emitter, x: Node) -> tuple[Node, Node]:
    """(r, quadrant): x = quadrant * pi/2 + r with |r| <= pi/4; quadrant in 0..3 as a float."""
    k = e.unary("round_even", e.mul(x, e.f(TWO_OVER_PI)))
    r = x
    for part in PIO2:
        r = e.sub(r, e.mul(k, e.f(part)))
    quadrant = e.sub(k, e.mul(e.f(4.0), e.unary("floor", e.mul(k, e.f(0.25)))))
    return r, quadrant


def _kernel_sin(e: Emitter, r: Node) -> Node:
    z = e.mul(r, r)
    return e.add(r, e.mul(e.mul(z, r), _horner(e, z, SIN_POLY)))


def _kernel_cos(e: Emitter, r: Node) -> Node:
    z = e.mul(r, r)
    tail = e.mul(e.mul(z, z), _horner(e, z, COS_POLY))
    return e.sub(e.f(1.0), e.sub(e.mul(e.f(0.5), z), tail))


def _by_quadrant(e: Emitter, quadrant: Node, values: Sequence[Node]) -> Node:
    result = values[3]
    for index in (2, 1, 0):
        result = e.where(e.eq(quadrant, e.f(float(index))), values[index], result)
    return result


def _beyond_reduction(e: Emitter, a: Node, result: Node) -> Node:
    # Past 2**52 the quadrant count is not an integer any more: NaN rather than a wrong number.
    return e.where(e.binary("ge", e.unary("abs", a), e.f(TWO_POW_52)), e.f(math.nan), result)


def lower_sin(e: Emitter, x: Value) -> Value:
    a = as_float(e, x)
    r, quadrant = _reduce_pio2(e, a)
    s, c = _kernel_sin(e, r), _kernel_cos(e, r)
    result = _by_quadrant(e, quadrant, (s, c, e.unary("neg", s), e.unary("neg", c)))
    signed_zero = e.where(e.eq(a, e.f(0.0)), a, result)  # sin(-0.0) is -0.0
    return Value(_beyond_reduction(e, a, signed_zero))


def lower_cos(e: Emitter, x: Value) -> Value:
    a = as_float(e, x)
    r, quadrant = _reduce_pio2(e, a)
    s, c = _kernel_sin(e, r), _kernel_cos(e, r)
    result = _by_quadrant(e, quadrant, (c, e.unary("neg", s), e.unary("neg", c), s))
    return Value(_beyond_reduction(e, a, result))


# exp and log likewise, after fdlibm's e_exp.c and e_log.c; onnxruntime's batched Exp and Log
# differ from numpy in the last bit for about 14% of inputs, which moves values off fitted
# quantile boundaries. Powers of two are applied by exact multiplications.
LN2_HI, LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10
INV_LN2 = 1.44269504088896338700e00
EXP_POLY = (
    1.66666666666666019037e-01,
    -2.77777777770155933842e-03,
    6.61375632143793436117e-05,
    -1.65339022054652515390e-06,
    4.13813679705723846039e-08,
)
LOG_EVEN = (3.999999999940941908e-01, 2.222219843214978396e-01, 1.531383769920937332e-01)
LOG_ODD = (
    6.666666666666735130e-01,
    2.857142874366239149e-01,
    1.818357216161805012e-01,
    1.479819860511658591e-01,
)
EXP_OVERFLOW, EXP_UNDERFLOW = 7.09782712893383973096e02, -7.45133219101941108420e02
SQRT2 = 1.4142135623730951


def _power_of_two(e: Emitter, k: Node) -> Node:
    """2.0 ** k for an integral float k with |k| <= 1023, by exact multiplications."""
    magnitude = e.unary("abs", k)
    result = e.f(1.0)
    for bit in (512, 256, 128, 64, 32, 16, 8, 4, 2, 1):
        present = e.binary("ge", magnitude, e.f(float(bit)))
        magnitude = e.where(present, e.sub(magnitude, e.f(float(bit))), magnitude)
        result = e.where(present, e.mul(result, e.f(2.0**bit)), result)
    return e.where(e.binary("lt", k, e.f(0.0)), e.div(e.f(1.0), result), result)


def exp_node(e: Emitter, x: Node) -> Node:
    k = e.unary("round_even", e.mul(x, e.f(INV_LN2)))
    k = e.where(
        e.isnan(k), e.f(0.0), e.binary("minimum", e.binary("maximum", k, e.f(-1100.0)), e.f(1100.0))
    )
    hi = e.sub(x, e.mul(k, e.f(LN2_HI)))
    lo = e.mul(k, e.f(LN2_LO))
    r = e.sub(hi, lo)
    t = e.mul(r, r)
    c = e.sub(r, e.mul(t, _horner(e, t, EXP_POLY)))
    y = e.sub(e.f(1.0), e.sub(e.sub(lo, e.div(e.mul(r, c), e.sub(e.f(2.0), c))), hi))
    half = e.unary("floor", e.mul(k, e.f(0.5)))
    scaled = e.mul(e.mul(y, _power_of_two(e, half)), _power_of_two(e, e.sub(k, half)))
    overflow = e.where(e.binary("gt", x, e.f(EXP_OVERFLOW)), e.f(math.inf), scaled)
    return e.where(e.binary("lt", x, e.f(EXP_UNDERFLOW)), e.f(0.0), overflow)


def log_node(e: Emitter, x: Node) -> Node:
    # Scale x into [1, 2) by exact powers of two, counting the exponent.
    m, exponent = x, e.f(0.0)
    for bit in (512, 256, 128, 64, 32, 16, 8, 4, 2, 1):
        big = e.binary("ge", m, e.f(2.0**bit))
        m = e.where(big, e.mul(m, e.f(2.0**-bit)), m)
        exponent = e.where(big, e.add(exponent, e.f(float(bit))), exponent)
    for bit in (512, 512, 256, 128, 64, 32, 16, 8, 4, 2, 1):
        small = e.binary("lt", m, e.f(2.0 ** (1 - bit)))
        m = e.where(small, e.mul(m, e.f(2.0**bit)), m)
        exponent = e.where(small, e.sub(exponent, e.f(float(bit))), exponent)
    high = e.binary("gt", m, e.f(SQRT2))
    m = e.where(high, e.mul(m, e.f(0.5)), m)
    exponent = e.where(high, e.add(exponent, e.f(1.0)), exponent)
    f = e.sub(m, e.f(1.0))
    s = e.div(f, e.add(e.f(2.0), f))
    z = e.mul(s, s)
    w = e.mul(z, z)
    r = e.add(e.mul(z, _horner(e, w, LOG_ODD)), e.mul(w, _horner(e, w, LOG_EVEN)))
    hfsq = e.mul(e.mul(e.f(0.5), f), f)
    inner = e.add(e.mul(s, e.add(hfsq, r)), e.mul(exponent, e.f(LN2_LO)))
    result = e.sub(e.mul(exponent, e.f(LN2_HI)), e.sub(e.sub(hfsq, inner), f))
    special = e.where(e.eq(x, e.f(math.inf)), x, result)
    special = e.where(e.eq(x, e.f(0.0)), e.f(-math.inf), special)
    return e.where(e.binary("lt", x, e.f(0.0)), e.f(math.nan), special)


def lower_log1p(e: Emitter, x: Value) -> Value:
    # Goldberg's formula: log(u) * (x / (u - 1)) with u = 1 + x is accurate to a few ULP and uses
    # only ops both runtimes have (onnx has no Log1p). u == 1 means |x| < eps/2: log1p(x) == x.
    a = as_float(e, x)
    u = e.add(e.f(1.0), a)
    ratio = e.mul(log_node(e, u), e.div(a, e.sub(u, e.f(1.0))))
    finite = e.where(e.eq(u, e.f(math.inf)), e.f(math.inf), ratio)
    return Value(e.where(e.eq(u, e.f(1.0)), a, finite))


def lower_expm1(e: Emitter, x: Value) -> Value:
    # Kahan's formula (u - 1) * x / log(u) with u = exp(x) for small |x|, where u - 1 cancels;
    # plain u - 1 elsewhere (exact enough there, and it cannot overflow); x itself when u == 1.
    a = as_float(e, x)
    u = exp_node(e, a)
    um1 = e.sub(u, e.f(1.0))
    kahan = e.div(e.mul(um1, a), log_node(e, u))
    small = e.where(e.eq(u, e.f(1.0)), a, kahan)
    return Value(e.where(e.binary("lt", e.unary("abs", a), e.f(0.5)), small, um1))


def lower_sigmoid(e: Emitter, x: Value) -> Value:
    a = as_float(e, x)
    return Value(e.div(e.f(1.0), e.add(e.f(1.0), exp_node(e, e.unary("neg", a)))))


def lower_round(e: Emitter, x: Value, ndigits: Value | None = None) -> Value:
    digits = 0 if ndigits is None else int(_literal(ndigits))
    if x.dtype is DType.INT and digits >= 0:
        return Value(x.node)
    a = as_float(e, x)
    if digits == 0:
        return Value(e.unary("round_even", a))
    if digits > 0:
        scale = e.f(10.0**digits)
        return Value(e.div(e.unary("round_even", e.mul(a, scale)), scale))
    scale = e.f(10.0**-digits)
    return Value(e.mul(e.unary("round_even", e.div(a, scale)), scale))


def lower_floor(e: Emitter, x: Value) -> Value:
    return Value(x.node if x.dtype is DType.INT else e.unary("floor", x.node))


def lower_ceil(e: Emitter, x: Value) -> Value:
    return Value(x.node if x.dtype is DType.INT else e.unary("ceil", x.node))


# ----------------------------------------------------------------------------- logic


def check_comparable(a: Value, b: Value) -> None:
    """Comparisons need one dtype, or int with float (promoted); anything else is a user error."""
    if a.dtype is b.dtype or (a.dtype.numeric and b.dtype.numeric):
        return
    raise LoweringError(
        f"cannot compare {a.dtype} with {b.dtype}",
        "compare values of one type; convert with float(...), int(...) or bool(...)",
    )


def _compare(op: str) -> Any:
    def lower(e: Emitter, a: Value, b: Value) -> Value:
        check_comparable(a, b)
        x, y = promote(e, a, b)
        return Value(e.binary(op, x, y))

    lower.__name__ = f"lower_{op}"
    return lower


lower_eq = _compare("eq")
lower_ne = _compare("ne")
lower_lt = _compare("lt")
lower_le = _compare("le")
lower_gt = _compare("gt")
lower_ge = _compare("ge")


def lower_and(e: Emitter, a: Value, b: Value) -> Value:
    return Value(e.and_(a.node, b.node))


def lower_or(e: Emitter, a: Value, b: Value) -> Value:
    return Value(e.or_(a.node, b.node))


def lower_not(e: Emitter, a: Value) -> Value:
    return Value(e.not_(a.node))


def unify(e: Emitter, values: Sequence[Value], what: str = "branches") -> tuple[DType, list[Value]]:
    """Bring branch values to one dtype (int + float -> float); null literals take that dtype."""
    typed = [v for v in values if not v.null_literal]
    dtypes = {v.dtype for v in typed}
    if dtypes == {DType.INT, DType.FLOAT}:
        dtype = DType.FLOAT
    elif len(dtypes) == 1:
        dtype = dtypes.pop()
    else:
        raise LoweringError(
            f"{what} have different types: " + " and ".join(sorted(str(d) for d in dtypes)),
            "convert one side with float(...), int(...) or bool(...)",
        )
    out = []
    for v in values:
        if v.null_literal:
            out.append(null_of(e, dtype))
        elif v.dtype is not dtype:
            out.append(float_value(e, v))
        else:
            out.append(v)
    return dtype, out


def null_of(e: Emitter, dtype: DType) -> Value:
    if dtype is DType.FLOAT:
        return Value(e.f(math.nan), nullable=True)
    return Value(placeholder(e, dtype), mask=e.const(DType.BOOL, True), nullable=True)


def float_value(e: Emitter, v: Value) -> Value:
    """int/bool value -> float value; a null mask turns into NaN."""
    node = e.to_float(v.node)
    if v.mask is not None:
        node = e.where(v.mask, e.f(math.nan), node)
    return Value(node, None, v.nullable)


def lower_if(e: Emitter, condition: Value, then: Value, otherwise: Value) -> Value:
    dtype, (a, b) = unify(e, [then, otherwise], "the branches of 'if'")
    node = e.where(condition.node, a.node, b.node)
    nullable = a.nullable or b.nullable
    if dtype is DType.FLOAT or not nullable:
        return Value(node, None, nullable)
    mask = e.where(condition.node, null_mask(e, a), null_mask(e, b))
    return Value(node, mask, True)


# ----------------------------------------------------------------------------- nulls


def lower_is_null(e: Emitter, x: Value) -> Value:
    return Value(null_mask(e, x))


def lower_fill_null(e: Emitter, x: Value, value: Value) -> Value:
    dtype, (a, b) = unify(e, [x, value], "the arguments of fill_null()")
    node = e.where(null_mask(e, a), b.node, a.node)
    if dtype is DType.FLOAT or not b.nullable:
        return Value(node, None, b.nullable)
    # Filled from a nullable value: null where both are.
    return Value(node, e.and_(null_mask(e, a), null_mask(e, b)), True)


def lower_coalesce(e: Emitter, *values: Value) -> Value:
    dtype, unified = unify(e, list(values), "the arguments of coalesce()")
    result = unified[-1]
    for v in reversed(unified[:-1]):
        node = e.where(null_mask(e, v), result.node, v.node)
        nullable = v.nullable and result.nullable
        if dtype is DType.FLOAT or not nullable:
            result = Value(node, None, nullable)
        else:
            result = Value(node, e.and_(null_mask(e, v), null_mask(e, result)), True)
    return result


def lower_null_if(e: Emitter, x: Value, value: Value) -> Value:
    check_comparable(x, value)
    a, b = promote(e, x, value)
    hit = e.eq(a, b)
    if a.dtype is DType.FLOAT:
        return Value(e.where(hit, e.f(math.nan), a), None, True)
    mask = hit if x.mask is None else e.or_(x.mask, hit)
    return Value(a, mask, True)


# ----------------------------------------------------------------------------- casts


def lower_float(e: Emitter, x: Value) -> Value:
    if x.dtype is DType.TIMESTAMP:
        raise LoweringError(
            "float() does not take a timestamp", "use seconds_between(t0, t) or days_between"
        )
    return Value(e.to_float(x.node))


def lower_int(e: Emitter, x: Value) -> Value:
    if x.dtype is not DType.FLOAT:
        node = x.node if x.dtype is DType.INT else e.to_int(x.node)
        return Value(node, x.mask, x.nullable)
    # NaN, +-inf and values outside int64 become null rather than an arbitrary integer.
    a = x.node
    bad = e.or_(
        e.isnan(a), e.or_(e.binary("ge", a, e.f(TWO_POW_63)), e.binary("lt", a, e.f(-TWO_POW_63)))
    )
    safe = e.where(bad, e.f(0.0), a)
    return Value(e.to_int(safe), bad, True)


def lower_bool(e: Emitter, x: Value) -> Value:
    if x.dtype is DType.BOOL:
        return Value(x.node)
    return Value(e.binary("ne", x.node, e.const(x.dtype, 0)))


# ----------------------------------------------------------------------------- strings


def _string_unary(op: str) -> Any:
    def lower(e: Emitter, x: Value) -> Value:
        return Value(e.unary(op, x.node))

    lower.__name__ = f"lower_{op}"
    return lower


lower_lower = _string_unary("lower_ascii")
lower_upper = _string_unary("upper_ascii")
lower_strip = _string_unary("strip_spaces")


def lower_concat(e: Emitter, *values: Value) -> Value:
    result = values[0].node
    for v in values[1:]:
        result = e.binary("concat", result, v.node)
    return Value(result)


def _string_test(op: str) -> Any:
    def lower(e: Emitter, x: Value, text: Value) -> Value:
        return Value(e.node(op, (x.node,), DType.BOOL, text=_literal(text)))

    lower.__name__ = f"lower_{op}"
    return lower


lower_starts_with = _string_test("starts_with")
lower_ends_with = _string_test("ends_with")
lower_contains = _string_test("contains")


def lower_matches(e: Emitter, x: Value, pattern: Value) -> Value:
    from featuredsl.compiler.regex import check_portable_regex

    text = _literal(pattern)
    problem = check_portable_regex(text)
    if problem:
        raise LoweringError(
            f"regular expression not portable: {problem}", _REGEX_HINT, pattern.node.span
        )
    return Value(e.node("matches", (x.node,), DType.BOOL, pattern=text))


_REGEX_HINT = (
    "matches() accepts literals, ., classes [a-z], \\d \\w, groups, |, and quantifiers * + ? {m,n}"
)


# ----------------------------------------------------------------------------- hashing, vocabularies


def hashed_text(e: Emitter, x: Value) -> Node:
    return x.node if x.dtype is DType.STRING else e.unary("to_string", x.node, DType.STRING)


def lower_hash_bucket(e: Emitter, x: Value, n: Value) -> Value:
    buckets = int(_literal(n))
    if buckets < 1:
        raise LoweringError("hash_bucket needs at least 1 bucket", "pass n >= 1", n.node.span)
    h = e.unary("murmur3", hashed_text(e, x), DType.INT)
    return Value(e.mod(h, e.i(buckets)))


def lower_cross(e: Emitter, a: Value, b: Value, n: Value) -> Value:
    buckets = int(_literal(n))
    if buckets < 1:
        raise LoweringError("cross needs at least 1 bucket", "pass n >= 1", n.node.span)
    joined = e.binary(
        "concat",
        e.binary("concat", hashed_text(e, a), e.const(DType.STRING, "\x1f")),
        hashed_text(e, b),
    )
    return Value(e.mod(e.unary("murmur3", joined, DType.INT), e.i(buckets)))


def _vocab_node(vocab: Value, x: Value) -> Node:
    if vocab.shape is not Shape.LIST:
        raise LoweringError(
            "expected a vocabulary list", "pass vocab(column) or a list literal", vocab.node.span
        )
    if vocab.dtype is not x.dtype:
        raise LoweringError(
            f"vocabulary of {vocab.dtype} values used on a {x.dtype} value",
            "build the vocabulary from the same column",
            vocab.node.span,
        )
    return vocab.node


def lookup_index(
    e: Emitter, x: Value, vocab: Value, oov_buckets: int, default: int
) -> tuple[Node, Node]:
    """(index node, vocabulary node): index in vocab, else len + hash % oov_buckets, else default."""
    keys = _vocab_node(vocab, x)
    found = e.node("lookup", (x.node, keys), DType.INT)
    size = (
        e.node("list_size", (keys,), DType.INT)
        if keys.op == "fitted"
        else e.i(len(keys.attr("values")))
    )
    if oov_buckets == 0:
        fallback = e.i(default)
    elif oov_buckets == 1:
        fallback = size
    else:
        hashed = e.mod(e.unary("murmur3", hashed_text(e, x), DType.INT), e.i(oov_buckets))
        fallback = e.add(size, hashed)
    missing = e.eq(found, e.i(-1))
    return e.where(missing, fallback, found), keys


def lower_lookup(
    e: Emitter,
    x: Value,
    vocab: Value,
    oov_buckets: Value | None = None,
    default: Value | None = None,
) -> Value:
    buckets = 1 if oov_buckets is None else int(_literal(oov_buckets))
    fallback = -1 if default is None else int(_literal(default))
    if buckets < 0:
        raise LoweringError(
            "oov_buckets must be >= 0", "", oov_buckets.node.span if oov_buckets else None
        )
    index, _ = lookup_index(e, x, vocab, buckets, fallback)
    return Value(index)


def lower_one_hot(e: Emitter, x: Value, vocab: Value, oov_buckets: Value | None = None) -> Value:
    buckets = 1 if oov_buckets is None else int(_literal(oov_buckets))
    if buckets < 0:
        raise LoweringError(
            "oov_buckets must be >= 0", "", oov_buckets.node.span if oov_buckets else None
        )
    index, keys = lookup_index(e, x, vocab, buckets, -1)
    width = None if keys.op == "fitted" else len(keys.attr("values")) + buckets
    return Value(e.node("one_hot", (index, keys), DType.FLOAT, width, oov_buckets=buckets))


def lower_bucketize(e: Emitter, x: Value, boundaries: Value) -> Value:
    if boundaries.shape is not Shape.LIST or not boundaries.dtype.numeric:
        raise LoweringError(
            "bucketize needs a list of numbers",
            "e.g. [0, 10, 100] or quantiles(x, 10)",
            boundaries.node.span,
        )
    edges = boundaries.node
    if edges.op == "fitted" and edges.attr("analyzer") != "quantiles":
        raise LoweringError(
            "bucketize needs sorted boundaries",
            "use a list literal [a, b, ...] or quantiles(x, n); a vocabulary is in frequency order",
            edges.span,
        )
    if edges.op == "list_const":
        values = [
            float(v) if boundaries.dtype is DType.INT else float.fromhex(v)
            for v in edges.attr("values")
        ]
        if any(math.isnan(v) for v in values) or any(b <= a for a, b in itertools.pairwise(values)):
            raise LoweringError(
                "bucket boundaries must be strictly increasing numbers",
                "sort them and remove duplicates",
                edges.span,
            )
        edges = e.b.list_const(DType.FLOAT, values, edges.span)
    return Value(e.node("bucketize", (as_float(e, x), edges), DType.INT))


# ----------------------------------------------------------------------------- time


def _days(e: Emitter, t: Value) -> Node:
    return e.floordiv(_as_int(e, t), e.i(MICROS_PER_DAY))


def _as_int(e: Emitter, t: Value) -> Node:
    # timestamps are int64 micros; re-type the node so integer primitives apply.
    return e.unary("to_int", t.node, DType.INT) if t.dtype is DType.TIMESTAMP else t.node


def _civil(e: Emitter, t: Value) -> tuple[Node, Node, Node]:
    """(year, month, day) by Howard Hinnant's days-from-civil inverse, in exact int64 arithmetic."""
    z = e.add(_days(e, t), e.i(719_468))
    era = e.floordiv(z, e.i(146_097))
    doe = e.sub(z, e.mul(era, e.i(146_097)))
    yoe_num = e.sub(
        e.add(e.sub(doe, e.floordiv(doe, e.i(1_460))), e.floordiv(doe, e.i(36_524))),
        e.floordiv(doe, e.i(146_096)),
    )
    yoe = e.floordiv(yoe_num, e.i(365))
    doy = e.sub(
        doe, e.sub(e.add(e.mul(e.i(365), yoe), e.floordiv(yoe, e.i(4))), e.floordiv(yoe, e.i(100)))
    )
    mp = e.floordiv(e.add(e.mul(e.i(5), doy), e.i(2)), e.i(153))
    day = e.add(e.sub(doy, e.floordiv(e.add(e.mul(e.i(153), mp), e.i(2)), e.i(5))), e.i(1))
    month = e.where(e.binary("lt", mp, e.i(10)), e.add(mp, e.i(3)), e.sub(mp, e.i(9)))
    year = e.add(e.add(yoe, e.mul(era, e.i(400))), e.to_int(e.binary("le", month, e.i(2))))
    return year, month, day


def lower_year(e: Emitter, t: Value) -> Value:
    return Value(_civil(e, t)[0])


def lower_month(e: Emitter, t: Value) -> Value:
    return Value(_civil(e, t)[1])


def lower_day(e: Emitter, t: Value) -> Value:
    return Value(_civil(e, t)[2])


def _micros_of_day(e: Emitter, t: Value) -> Node:
    return e.mod(_as_int(e, t), e.i(MICROS_PER_DAY))


def lower_hour(e: Emitter, t: Value) -> Value:
    return Value(e.floordiv(_micros_of_day(e, t), e.i(3_600 * MICROS_PER_SECOND)))


def lower_minute(e: Emitter, t: Value) -> Value:
    minutes = e.floordiv(_micros_of_day(e, t), e.i(60 * MICROS_PER_SECOND))
    return Value(e.mod(minutes, e.i(60)))


def lower_second(e: Emitter, t: Value) -> Value:
    seconds = e.floordiv(_micros_of_day(e, t), e.i(MICROS_PER_SECOND))
    return Value(e.mod(seconds, e.i(60)))


def lower_day_of_week(e: Emitter, t: Value) -> Value:
    # 1970-01-01 was a Thursday (3 when Monday is 0).
    return Value(e.mod(e.add(_days(e, t), e.i(3)), e.i(7)))


def lower_day_of_year(e: Emitter, t: Value) -> Value:
    year = _civil(e, t)[0]
    # days from civil (year, 1, 1): March-based year y - 1, day-of-era-year 306.
    y = e.sub(year, e.i(1))
    era = e.floordiv(y, e.i(400))
    yoe = e.sub(y, e.mul(era, e.i(400)))
    doe = e.add(
        e.sub(e.add(e.mul(yoe, e.i(365)), e.floordiv(yoe, e.i(4))), e.floordiv(yoe, e.i(100))),
        e.i(306),
    )
    jan1 = e.sub(e.add(e.mul(era, e.i(146_097)), doe), e.i(719_468))
    return Value(e.add(e.sub(_days(e, t), jan1), e.i(1)))


def lower_days_between(e: Emitter, start: Value, end: Value) -> Value:
    return Value(e.floordiv(e.sub(_as_int(e, end), _as_int(e, start)), e.i(MICROS_PER_DAY)))


def lower_seconds_between(e: Emitter, start: Value, end: Value) -> Value:
    return Value(e.floordiv(e.sub(_as_int(e, end), _as_int(e, start)), e.i(MICROS_PER_SECOND)))


# ----------------------------------------------------------------------------- analyzers and scalers


def fitted(
    e: Emitter, analyzer: str, x: Value, dtype: DType, shape: Shape = Shape.SCALAR, **params: Any
) -> Node:
    mask = null_mask(e, x) if x.nullable else None
    args = (x.node,) if mask is None else (x.node, mask)
    width = None if shape is Shape.LIST else 1
    return e.b.node(
        "fitted", args, Type(dtype, shape, width), {"analyzer": analyzer, **params}, e.span
    )


def _analyzer(name: str, result: str = "float") -> Any:
    def lower(e: Emitter, x: Value) -> Value:
        dtype = {"float": DType.FLOAT, "int": DType.INT, "same": x.dtype}[result]
        source = replace(x, node=e.to_float(x.node)) if result == "float" else x
        return Value(fitted(e, name, source, dtype))

    lower.__name__ = f"lower_{name}"
    return lower


lower_mean = _analyzer("mean")
lower_std = _analyzer("std")
lower_var = _analyzer("var")
lower_median = _analyzer("median")
lower_fit_min = _analyzer("min", "same")
lower_fit_max = _analyzer("max", "same")
lower_mode = _analyzer("mode", "same")
lower_count = _analyzer("count", "int")


def lower_quantile(e: Emitter, x: Value, q: Value) -> Value:
    level = float(_literal(q))
    if not 0.0 <= level <= 1.0:
        raise LoweringError(
            "quantile level must be between 0 and 1", "e.g. quantile(x, 0.99)", q.node.span
        )
    return Value(
        fitted(
            e, "quantile", replace(x, node=e.to_float(x.node)), DType.FLOAT, q=float(level).hex()
        )
    )


def lower_quantiles(e: Emitter, x: Value, n: Value) -> Value:
    count = int(_literal(n))
    if count < 2:
        raise LoweringError(
            "quantiles needs n >= 2 buckets", "quantiles(x, 10) gives 9 boundaries", n.node.span
        )
    return Value(
        fitted(
            e, "quantiles", replace(x, node=e.to_float(x.node)), DType.FLOAT, Shape.LIST, n=count
        )
    )


def lower_vocab(
    e: Emitter, x: Value, top: Value | None = None, min_count: Value | None = None
) -> Value:
    limit = 0 if top is None else int(_literal(top))
    threshold = 1 if min_count is None else int(_literal(min_count))
    if top is not None and limit < 1:
        raise LoweringError("top must be >= 1", "", top.node.span)
    if threshold < 1:
        raise LoweringError(
            "min_count must be >= 1", "", min_count.node.span if min_count else None
        )
    return Value(fitted(e, "vocab", x, x.dtype, Shape.LIST, top=limit, min_count=threshold))


def _scaler(center: str | None, scale: str) -> Any:
    def lower(e: Emitter, x: Value) -> Value:
        if x.shape is not Shape.ROW:
            raise LoweringError(
                "a scaler needs a per-row value to fit on, not a constant",
                "scale a column",
                x.node.span,
            )
        a = e.to_float(x.node)
        source = replace(x, node=a)
        shifted = a if center is None else e.sub(a, fitted(e, center, source, DType.FLOAT))
        return Value(e.div(shifted, fitted(e, scale, source, DType.FLOAT)))

    return lower


lower_zscore = _scaler("mean", "scale_std")
lower_minmax = _scaler("min", "scale_range")
lower_robust = _scaler("median", "scale_iqr")
lower_maxabs = _scaler(None, "scale_maxabs")


def _literal(value: Value) -> Any:
    from featuredsl.compiler.ir import constant_value

    return constant_value(value.node)
