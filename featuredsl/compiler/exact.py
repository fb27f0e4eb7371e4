"""Python's float semantics, exactly, as IR subgraphs: round(x, n), a % b, a // b.

Both runtimes only ever see exactly rounded primitives (+, -, *, /, fmod, floor, ceil,
round-half-even, comparisons, where), so they give the same bits, and those bits are CPython's:

* `round(x, n)` rounds the exact binary value of x half-to-even at n decimal places and returns
  the double nearest to that decimal (CPython's `double_round`). For n > 0 the product x * 10**n
  is kept exactly as hi + lo (Dekker's TwoProduct with Veltkamp splitting: T. J. Dekker, "A
  floating-point technique for extending the available precision", Numer. Math. 18, 1971), so a
  double just below a decimal tie (2.675 is 2.67499999...) rounds down as Python does. For
  n < 0 the remainder fmod(x, 10**-n) is exact by definition, so the distance to the multiple
  below is known exactly. n is a literal in [-22, 22]: 10**22 is the last exact power of ten.
* `a % b` and `a // b` follow CPython's `float_divmod` (Objects/floatobject.c) step for step:
  fmod, a sign fix by one addition, and the floor of (a - mod) / b nudged to the nearest integer.
"""

from __future__ import annotations

import math

from featuredsl.compiler.builder import TWO_POW_52, TWO_POW_53, Emitter
from featuredsl.compiler.ir import Node

VELTKAMP = 134217729.0  # 2**27 + 1: splits a double into two halves of at most 26 bits


def split_constant(value: float) -> tuple[float, float]:
    """Veltkamp's split of a constant, in Python (same IEEE operations as `split`)."""
    c = VELTKAMP * value
    high = c - (c - value)
    return high, value - high


def split(e: Emitter, a: Node) -> tuple[Node, Node]:
    """(high, low) with high + low == a exactly, each with at most 26 significant bits."""
    c = e.mul(e.f(VELTKAMP), a)
    high = e.sub(c, e.sub(c, a))
    return high, e.sub(a, high)


def two_product(e: Emitter, a: Node, b: float) -> tuple[Node, Node]:
    """(p, err) with p = fl(a * b) and p + err == a * b exactly (no overflow or underflow)."""
    p = e.mul(a, e.f(b))
    a_high, a_low = split(e, a)
    b_high, b_low = split_constant(b)
    err = e.sub(e.mul(a_high, e.f(b_high)), p)
    err = e.add(err, e.mul(a_high, e.f(b_low)))
    err = e.add(err, e.mul(a_low, e.f(b_high)))
    return p, e.add(err, e.mul(a_low, e.f(b_low)))


def signbit(e: Emitter, v: Node) -> Node:
    """True for negative numbers and -0.0 (1 / -0.0 is -inf); False for NaN."""
    negative_zero = e.and_(e.eq(v, e.f(0.0)), e.binary("lt", e.div(e.f(1.0), v), e.f(0.0)))
    return e.or_(e.binary("lt", v, e.f(0.0)), negative_zero)


def zero_like(e: Emitter, sign_of: Node) -> Node:
    """copysign(0.0, sign_of)."""
    return e.where(signbit(e, sign_of), e.f(-0.0), e.f(0.0))


def round_decimal(e: Emitter, x: Node, digits: int) -> Node:
    """Python's round(x, digits) for a float node x and a literal |digits| <= 22."""
    if digits == 0:
        return e.unary("round_even", x)
    if digits > 0:
        return _round_fraction_digits(e, x, digits)
    return _round_integer_digits(e, x, -digits)


def _round_fraction_digits(e: Emitter, x: Node, digits: int) -> Node:
    scale = 10.0**digits
    # |x| >= 2**53 is an integer, and |x * scale| >= 2**53 means ulp(x) >= 10**-digits: either
    # way no decimal place to round away, so the result is x (also for inf and NaN). Zero stands
    # in for such x below so that splitting cannot overflow.
    small = e.binary("lt", e.unary("abs", x), e.f(TWO_POW_53))
    xs = e.where(small, x, e.f(0.0))
    hi, lo = two_product(e, xs, scale)
    nearest = e.unary("round_even", hi)
    # hi is a half-integer: the exact product is above, below or on the tie as lo says.
    tie = e.eq(e.unary("abs", e.sub(hi, nearest)), e.f(0.5))
    by_lo = e.where(
        e.binary("gt", lo, e.f(0.0)),
        e.unary("ceil", hi),
        e.where(e.binary("lt", lo, e.f(0.0)), e.unary("floor", hi), nearest),
    )
    units = e.where(tie, by_lo, nearest)
    # From 2**52 on hi is an integer and |lo| <= 0.5: one correctly rounded addition decides.
    wide = e.binary("ge", e.unary("abs", hi), e.f(TWO_POW_52))
    units = e.where(wide, e.add(hi, lo), units)
    rounded = e.div(units, e.f(scale))
    exact_path = e.and_(small, e.binary("lt", e.unary("abs", hi), e.f(TWO_POW_53)))
    return e.where(exact_path, rounded, x)


def _round_integer_digits(e: Emitter, x: Node, places: int) -> Node:
    step = 10.0**places
    r = e.binary("fmod", x, e.f(step))  # exact, sign of x: x = c * step + r, c an integer
    magnitude = e.unary("abs", r)
    half = e.f(step / 2)
    away = e.sub(r, e.where(signbit(e, x), e.f(-step), e.f(step)))  # exact (Sterbenz)
    # On a tie, c even keeps r: then fmod(x, 2 * step) is r again.
    even = e.eq(e.unary("abs", e.binary("fmod", x, e.f(2 * step))), magnitude)
    on_tie = e.where(even, r, away)
    offset = e.where(
        e.binary("lt", magnitude, half), r, e.where(e.binary("gt", magnitude, half), away, on_tie)
    )
    rounded = e.sub(x, offset)  # the one rounding: x minus an exact offset
    signed = e.where(e.eq(rounded, e.f(0.0)), zero_like(e, x), rounded)
    return e.where(e.eq(e.unary("abs", x), e.f(math.inf)), x, signed)


def python_mod(e: Emitter, a: Node, b: Node) -> Node:
    """CPython's float a % b: the sign of b, |result| < |b|; NaN when b is 0 or a is infinite."""
    return _divmod(e, a, b)[1]


def python_floordiv(e: Emitter, a: Node, b: Node) -> Node:
    """CPython's float a // b, consistent with a % b; NaN when b is 0 or a is infinite."""
    return _divmod(e, a, b)[0]


def _divmod(e: Emitter, a: Node, b: Node) -> tuple[Node, Node]:
    mod = e.binary("fmod", a, b)
    div = e.div(e.sub(a, mod), b)
    below = e.binary("lt", b, e.f(0.0))
    # `if (mod)` with `(wx < 0) != (mod < 0)`: comparisons, not sign bits (a NaN mod is "true"
    # in C and stays NaN on both branches, as in CPython).
    fix = e.and_(
        e.binary("ne", mod, e.f(0.0)), e.binary("ne", below, e.binary("lt", mod, e.f(0.0)))
    )
    mod = e.where(fix, e.add(mod, b), e.where(e.eq(mod, e.f(0.0)), zero_like(e, b), mod))
    div = e.where(fix, e.sub(div, e.f(1.0)), div)
    floored = e.unary("floor", div)
    nudged = e.where(
        e.binary("gt", e.sub(div, floored), e.f(0.5)), e.add(floored, e.f(1.0)), floored
    )
    quotient = e.where(e.eq(div, e.f(0.0)), zero_like(e, e.div(a, b)), nudged)
    return quotient, mod
