"""Exact-to-the-bit elementary functions as IR subgraphs: log, exp, sin, cos, log1p, expm1.

onnxruntime's vectorised Log/Exp/Sin/Cos differ from numpy's libm by a few ULP for a large share
of inputs (and vary with batch size), enough to move a value across a fitted quantile boundary or
a float32 tree split. So these functions are built here from exactly rounded primitives (+, -, *,
/, floor, round-half-even, comparisons, where): both backends then compute them bit for bit alike.

Sources: fdlibm 5.3 (Sun Microsystems, 1993) `k_sin.c`, `k_cos.c`, `e_rem_pio2.c` (Cody-Waite
reduction with a three-part pi/2), `e_exp.c`, `e_log.c`; log1p by Goldberg's formula and expm1 by
Kahan's (D. Goldberg, "What every computer scientist should know about floating-point
arithmetic", 1991, theorem 4 and the remark after it). Accuracy against numpy: docs/parity.md.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

from featuredsl.compiler.builder import TWO_POW_52, Emitter
from featuredsl.compiler.ir import Builder, Node, walk
from featuredsl.compiler.types import DType, Type
from featuredsl.language.diagnostics import Span

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
    """exp(x), fdlibm's e_exp.c; 0 below the underflow bound, inf above."""
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
    """log(x), fdlibm's e_log.c; -inf at 0, NaN below 0."""
    # Scale x into [1, 2) by exact powers of two, counting the exponent. |x| rather than x: the
    # result for x <= 0 is replaced below anyway, and a value that cannot be -0.0 keeps the ONNX
    # graph's where() plain (featuredsl.backends.onnx.signs).
    m, exponent = e.unary("abs", x), e.f(0.0)
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


def sin_node(e: Emitter, a: Node) -> Node:
    """sin(a), fdlibm's k_sin.c and e_rem_pio2.c; sin(-0.0) is -0.0; NaN beyond |a| >= 2**52."""
    r, quadrant = _reduce_pio2(e, a)
    s, c = _kernel_sin(e, r), _kernel_cos(e, r)
    result = _by_quadrant(e, quadrant, (s, c, e.unary("neg", s), e.unary("neg", c)))
    signed_zero = e.where(e.eq(a, e.f(0.0)), a, result)  # sin(-0.0) is -0.0
    return _beyond_reduction(e, a, signed_zero)


def cos_node(e: Emitter, a: Node) -> Node:
    """cos(a), fdlibm's k_cos.c and e_rem_pio2.c; NaN beyond |a| >= 2**52."""
    r, quadrant = _reduce_pio2(e, a)
    s, c = _kernel_sin(e, r), _kernel_cos(e, r)
    return _beyond_reduction(
        e, a, _by_quadrant(e, quadrant, (c, e.unary("neg", s), e.unary("neg", c), s))
    )


def log1p_node(e: Emitter, a: Node) -> Node:
    """log(1 + a), accurate near 0: Goldberg's formula (1991, theorem 4) over the exact log."""
    # Goldberg's formula: log(u) * (x / (u - 1)) with u = 1 + x is accurate to a few ULP and uses
    # only ops both runtimes have (onnx has no Log1p). u == 1 means |x| < eps/2: log1p(x) == x.
    u = e.add(e.f(1.0), a)
    ratio = e.mul(call(e, "log", u), e.div(a, e.sub(u, e.f(1.0))))
    finite = e.where(e.eq(u, e.f(math.inf)), e.f(math.inf), ratio)
    return e.where(e.eq(u, e.f(1.0)), a, finite)


def expm1_node(e: Emitter, a: Node) -> Node:
    """exp(a) - 1, accurate near 0: Kahan's formula (Goldberg 1991) over the exact exp and log."""
    # Kahan's formula (u - 1) * x / log(u) with u = exp(x) for small |x|, where u - 1 cancels;
    # plain u - 1 elsewhere (exact enough there, and it cannot overflow); x itself when u == 1.
    u = call(e, "exp", a)
    um1 = e.sub(u, e.f(1.0))
    kahan = e.div(e.mul(um1, a), call(e, "log", u))
    small = e.where(e.eq(u, e.f(1.0)), a, kahan)
    return e.where(e.binary("lt", e.unary("abs", a), e.f(0.5)), small, um1)


# Each routine is one `call` node in a program, its body built once here over a parameter `x`:
# the numpy module defines it as a helper function (`_log1p(x)`) and the ONNX graph as a
# model-local function (domain ROUTINE_DOMAIN), both rendered from this same IR, so both
# artifacts compute it with the same exactly rounded operations as when it was written inline.
ROUTINES = {
    "log": log_node,
    "exp": exp_node,
    "sin": sin_node,
    "cos": cos_node,
    "log1p": log1p_node,
    "expm1": expm1_node,
}
ROUTINE_DOMAIN = "featuredsl"
PARAMETER = "x"  # the input node of a routine's body: op input, role "parameter"


def call(e: Emitter, routine: str, a: Node) -> Node:
    """routine(a) for a float node: a `call` of one of ROUTINES."""
    if routine not in ROUTINES:
        raise KeyError(f"no exact routine {routine!r}")
    return e.node("call", (a,), DType.FLOAT, routine=routine)


@functools.cache
def routine_body(routine: str) -> tuple[Node, Node]:
    """(parameter, result) of a routine's body: the IR computing it from the input node
    `parameter` (op input, role "parameter"); calls of other routines stay calls."""
    builder = Builder()
    parameter = builder.node(
        "input", (), Type(DType.FLOAT), {"name": PARAMETER, "role": "parameter"}
    )
    return parameter, ROUTINES[routine](Emitter(builder, Span.unknown()), parameter)


def routine_docs(routine: str) -> str:
    """The first line of a routine's docstring (what the generated helper says it computes)."""
    return (ROUTINES[routine].__doc__ or routine).strip().splitlines()[0]


def called_routines(roots: Sequence[Node]) -> list[str]:
    """The routines `roots` call, directly or through other routines, callees first."""
    order: list[str] = []

    def visit(nodes: Sequence[Node]) -> None:
        for node in walk(nodes):
            if node.op == "call" and node.attr("routine") not in order:
                name = node.attr("routine")
                visit([routine_body(name)[1]])
                if name not in order:
                    order.append(name)

    visit(roots)
    return order
