"""Which sign bits a float value of the IR can carry, and whether it can be -0.0.

onnxruntime's Where (1.20-1.32, double) returns 0.0 where it picks a -0.0 from its second input
(the "then" value), so the ONNX backend lets a -0.0 leave a Where only through its third input.
That costs nodes; this analysis tells the backend where a value provably cannot be -0.0, so that
most Wheres stay plain. It is conservative: "may be" means "not proven impossible". NaN's sign
bit is not part of featuredsl's semantics and is ignored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from featuredsl.compiler.ir import Node, constant_value
from featuredsl.compiler.types import DType


@dataclass(frozen=True)
class Signs:
    negative: bool  # may have the sign bit set (-0.0 and -inf included)
    positive: bool  # may have it clear (0.0 and +inf included)
    negative_zero: bool  # may be -0.0


ANY = Signs(True, True, True)
NONE = Signs(False, False, False)  # non-float values, and NaN
POSITIVE = Signs(False, True, False)
SIGNED_INT = Signs(True, True, False)  # an integer as a float: never -0.0


def _union(*signs: Signs) -> Signs:
    return Signs(
        any(s.negative for s in signs),
        any(s.positive for s in signs),
        any(s.negative_zero for s in signs),
    )


def _flip(s: Signs) -> Signs:
    return Signs(s.positive, s.negative, s.positive)  # -(0.0) is -0.0


def _product(a: Signs, b: Signs) -> Signs:
    """a * b and a / b: the sign is the product of the signs; a zero (or an underflow) of unlike
    signs is -0.0."""
    negative = (a.negative and b.positive) or (a.positive and b.negative)
    positive = (a.positive and b.positive) or (a.negative and b.negative)
    return Signs(negative, positive, negative)


def _signs_of_value(value: float) -> Signs:
    if math.isnan(value):
        return NONE
    negative = math.copysign(1.0, value) < 0
    return Signs(negative, not negative, negative and value == 0.0)


def signs_of(node: Node, known: Mapping[Node, Signs]) -> Signs:
    """The signs of `node`, given those of its arguments in `known`."""
    if node.dtype is not DType.FLOAT or node.op == "list_const":
        return NONE
    args = [known[a] for a in node.args]
    op = node.op
    if op == "const":
        return _signs_of_value(constant_value(node))
    if op == "gather" and node.args[1].op == "list_const":  # a table: the signs of its items
        return _union(NONE, *map(_signs_of_value, constant_value(node.args[1])))
    if op in ("abs", "one_hot"):
        return POSITIVE
    if op == "to_float":
        return POSITIVE if node.args[0].dtype is DType.BOOL else SIGNED_INT
    if op == "neg":
        return _flip(args[0])
    if op == "add":  # round to nearest: a sum is -0.0 only if both terms are
        a, b = args
        return Signs(
            a.negative or b.negative, a.positive or b.positive, a.negative_zero and b.negative_zero
        )
    if op == "sub":  # a - b = a + (-b)
        a, b = args[0], _flip(args[1])
        return Signs(
            a.negative or b.negative, a.positive or b.positive, a.negative_zero and b.negative_zero
        )
    if op in ("mul", "div"):
        return _product(*args)
    if op == "floor":  # -0.0 only for -0.0
        return args[0]
    if op in ("ceil", "round_even"):  # ceil(-0.5) and round_even(-0.4) are -0.0
        return Signs(args[0].negative, args[0].positive, args[0].negative)
    if op == "sqrt":
        return args[0]
    if op in ("minimum", "maximum"):
        return _union(*args)
    if op == "where":
        return _union(args[1], args[2])
    if op == "broadcast":
        return args[0]
    if op == "pow":
        return ANY if args[0].negative else POSITIVE
    return ANY  # inputs
