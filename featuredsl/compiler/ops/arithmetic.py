"""Arithmetic operators: + - * / // % ** and unary minus."""

from __future__ import annotations

from featuredsl.compiler import exact
from featuredsl.compiler.builder import (
    Emitter,
    Value,
    as_float,
    promote,
)
from featuredsl.compiler.op import (
    A_NUM,
    B_NUM,
    DIVISOR_NOT_ZERO,
    PROPAGATE,
    Op,
    Returns,
    X,
)
from featuredsl.compiler.types import DType


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
    return Value(exact.python_floordiv(e, x, y))


def lower_mod(e: Emitter, a: Value, b: Value) -> Value:
    if a.dtype is DType.INT and b.dtype is DType.INT:
        return Value(e.mod(a.node, b.node))
    x, y = promote(e, a, b)
    return Value(exact.python_mod(e, x, y))


def lower_pow(e: Emitter, a: Value, b: Value) -> Value:
    return Value(e.binary("pow", as_float(e, a), as_float(e, b)))


def lower_neg(e: Emitter, a: Value) -> Value:
    return Value(e.unary("neg", a.node))


OPS: tuple[Op, ...] = (
    Op(
        "add",
        "arithmetic",
        (A_NUM, B_NUM),
        Returns.PROMOTE,
        PROPAGATE,
        lower_add,
        "Sum. int + int stays int (wraps modulo 2**64); with a float operand both become float.",
        "n + 1",
        operator="+",
        nan_propagating=True,
    ),
    Op(
        "sub",
        "arithmetic",
        (A_NUM, B_NUM),
        Returns.PROMOTE,
        PROPAGATE,
        lower_sub,
        "Difference; same promotion as +.",
        "x - 1.5",
        operator="-",
        nan_propagating=True,
    ),
    Op(
        "mul",
        "arithmetic",
        (A_NUM, B_NUM),
        Returns.PROMOTE,
        PROPAGATE,
        lower_mul,
        "Product; same promotion as +.",
        "x * 2",
        operator="*",
        nan_propagating=True,
    ),
    Op(
        "truediv",
        "arithmetic",
        (A_NUM, B_NUM),
        Returns.FLOAT,
        PROPAGATE,
        lower_truediv,
        "True division, always float. IEEE rules: x / 0 is +-inf, 0 / 0 is NaN.",
        "n / 7",
        operator="/",
        nan_propagating=True,
        constant_checks=(DIVISOR_NOT_ZERO,),
    ),
    Op(
        "floordiv",
        "arithmetic",
        (A_NUM, B_NUM),
        Returns.PROMOTE,
        PROPAGATE,
        lower_floordiv,
        "Floor division, as Python's //. Ints: rounds toward -inf, n // 0 is 0, INT64_MIN // -1 "
        "is INT64_MIN. Floats: CPython's float floor division (consistent with %: a == (a // b) "
        "* b + a % b up to rounding), e.g. 1e17 // 3 is 3.3333333333333332e16 and -1.0 // inf "
        "is -1.0; a // 0.0 and inf // b are NaN (Python raises).",
        "n // 3",
        operator="//",
        nan_propagating=True,
        constant_checks=(DIVISOR_NOT_ZERO,),
    ),
    Op(
        "mod",
        "arithmetic",
        (A_NUM, B_NUM),
        Returns.PROMOTE,
        PROPAGATE,
        lower_mod,
        "Remainder with the sign of b, as Python's %. Ints: n % 0 is 0. Floats: exact, computed "
        "as C's fmod plus one sign-fixing addition (CPython's float %): 1e17 % 3 is 1.0, "
        "-1.0 % 3 is 2.0, 5.0 % -3 is -1.0, a zero result has the sign of b; a % 0.0 and "
        "inf % b are NaN (Python raises).",
        "n % 7",
        operator="%",
        nan_propagating=True,
        constant_checks=(DIVISOR_NOT_ZERO,),
    ),
    Op(
        "power",
        "arithmetic",
        (A_NUM, B_NUM),
        Returns.FLOAT,
        PROPAGATE,
        lower_pow,
        "a ** b, always float (binds tighter than unary minus: -x ** 2 is -(x ** 2)).",
        "x ** 2",
        operator="**",
    ),
    Op(
        "neg",
        "arithmetic",
        (X,),
        Returns.SAME,
        PROPAGATE,
        lower_neg,
        "Negation. -0.0 and 0.0 keep IEEE signs; -INT64_MIN is INT64_MIN.",
        "-x",
        operator="-",
        nan_propagating=True,
    ),
)
