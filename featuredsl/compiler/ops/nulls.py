"""Null handling: is_null, fill_null, coalesce, null_if."""

from __future__ import annotations

import math

from featuredsl.compiler.builder import (
    Emitter,
    Value,
    check_comparable,
    null_mask,
    promote,
    unify,
)
from featuredsl.compiler.op import (
    ANY,
    HANDLES,
    Op,
    Returns,
    param,
)
from featuredsl.compiler.types import DType


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


OPS: tuple[Op, ...] = (
    Op(
        "is_null",
        "null",
        (param("x", ANY),),
        Returns.BOOL,
        HANDLES,
        lower_is_null,
        "True where x is null (for floats: NaN). False everywhere for a non-nullable value.",
        "is_null(y)",
    ),
    Op(
        "fill_null",
        "null",
        (param("x", ANY), param("value", ANY)),
        Returns.UNIFY,
        HANDLES,
        lower_fill_null,
        "x where it is not null, else value. For floats, NaN counts as null. The result is non-nullable "
        "when value is.",
        "fill_null(y, median(y))",
        null_literal_ok=True,
    ),
    Op(
        "coalesce",
        "null",
        (param("a", ANY), param("b", ANY)),
        Returns.UNIFY,
        HANDLES,
        lower_coalesce,
        "The first non-null of its arguments; null only if all are.",
        "coalesce(k, n)",
        variadic=True,
        null_literal_ok=True,
    ),
    Op(
        "null_if",
        "null",
        (param("x", ANY), param("value", ANY, null_ok=False)),
        Returns.UNIFY,
        HANDLES,
        lower_null_if,
        "Null where x == value, else x. The result is nullable.",
        "fill_null(null_if(n, -1), 0)",
    ),
)
