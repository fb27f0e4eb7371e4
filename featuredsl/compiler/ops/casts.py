"""Conversions between int, float and bool."""

from __future__ import annotations

from featuredsl.compiler.builder import (
    TWO_POW_63,
    Emitter,
    LoweringError,
    Value,
)
from featuredsl.compiler.op import (
    CASTABLE,
    HANDLES,
    PROPAGATE,
    TS,
    Op,
    Returns,
    param,
)
from featuredsl.compiler.types import DType


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


OPS: tuple[Op, ...] = (
    Op(
        "float",
        "cast",
        (param("x", CASTABLE),),
        Returns.FLOAT,
        PROPAGATE,
        lower_float,
        "To float. int -> float64 is exact up to 2**53 and rounds to nearest-even beyond; bool gives 0.0/1.0. "
        "Strings are not parsed (parse upstream).",
        "float(n)",
        nan_propagating=True,
    ),
    Op(
        "int",
        "cast",
        (param("x", CASTABLE | TS),),
        Returns.INT,
        HANDLES,
        lower_int,
        "To int. float truncates toward zero; NaN, +-inf and values outside int64 become null (so int(x) of "
        "a float is nullable: fill it). bool gives 0/1; a timestamp gives its microseconds since the epoch.",
        "fill_null(int(x), 0)",
    ),
    Op(
        "bool",
        "cast",
        (param("x", CASTABLE),),
        Returns.BOOL,
        PROPAGATE,
        lower_bool,
        "To bool: x != 0 (so NaN is true, as in Python).",
        "bool(n)",
    ),
)
