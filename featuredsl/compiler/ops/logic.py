"""Comparisons, boolean logic and `if`."""

from __future__ import annotations

from typing import Any

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
    BOOL,
    HANDLES,
    ORDERED,
    REJECT,
    Op,
    Returns,
    param,
)
from featuredsl.compiler.types import DType


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


def lower_if(e: Emitter, condition: Value, then: Value, otherwise: Value) -> Value:
    dtype, (a, b) = unify(e, [then, otherwise], "the branches of 'if'")
    node = e.where(condition.node, a.node, b.node)
    nullable = a.nullable or b.nullable
    if dtype is DType.FLOAT or not nullable:
        return Value(node, None, nullable)
    mask = e.where(condition.node, null_mask(e, a), null_mask(e, b))
    return Value(node, mask, True)


OPS: tuple[Op, ...] = (
    Op(
        "eq",
        "logic",
        (param("a", ANY), param("b", ANY)),
        Returns.BOOL,
        REJECT,
        lower_eq,
        "Equality. Numbers compare after int -> float promotion; strings by code points; NaN == NaN is false.",
        's == "DE"',
        operator="==",
    ),
    Op(
        "ne",
        "logic",
        (param("a", ANY), param("b", ANY)),
        Returns.BOOL,
        REJECT,
        lower_ne,
        "Inequality.",
        "n != 0",
        operator="!=",
    ),
    Op(
        "lt",
        "logic",
        (param("a", ORDERED), param("b", ORDERED)),
        Returns.BOOL,
        REJECT,
        lower_lt,
        "Less than (numbers or timestamps). Comparisons with NaN are false.",
        "x < 0",
        operator="<",
    ),
    Op(
        "le",
        "logic",
        (param("a", ORDERED), param("b", ORDERED)),
        Returns.BOOL,
        REJECT,
        lower_le,
        "Less or equal.",
        "x <= 0",
        operator="<=",
    ),
    Op(
        "gt",
        "logic",
        (param("a", ORDERED), param("b", ORDERED)),
        Returns.BOOL,
        REJECT,
        lower_gt,
        "Greater than.",
        "t > t2",
        operator=">",
    ),
    Op(
        "ge",
        "logic",
        (param("a", ORDERED), param("b", ORDERED)),
        Returns.BOOL,
        REJECT,
        lower_ge,
        "Greater or equal.",
        "n >= 10",
        operator=">=",
    ),
    Op(
        "and",
        "logic",
        (param("a", BOOL), param("b", BOOL)),
        Returns.BOOL,
        REJECT,
        lower_and,
        "Logical and (both sides are always evaluated).",
        "b and x > 0",
        operator="and",
    ),
    Op(
        "or",
        "logic",
        (param("a", BOOL), param("b", BOOL)),
        Returns.BOOL,
        REJECT,
        lower_or,
        "Logical or.",
        "b or n > 3",
        operator="or",
    ),
    Op(
        "not",
        "logic",
        (param("a", BOOL),),
        Returns.BOOL,
        REJECT,
        lower_not,
        "Logical not.",
        "not b",
        operator="not",
    ),
    Op(
        "if",
        "logic",
        (param("condition", BOOL, null_ok=False), param("then", ANY), param("else", ANY)),
        Returns.UNIFY,
        HANDLES,
        lower_if,
        "`if c then a else b`: a where c is true, else b. Both branches are computed; types unify "
        "(int with float gives float; null takes the other branch's type and makes the result nullable). "
        "The condition must not be nullable.",
        "if x > 0 then x else 0",
        null_literal_ok=True,
    ),
)
