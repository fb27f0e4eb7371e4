"""Lowering helpers: the typed node constructors (`Emitter`) and the rules every op family shares.

A surface op's lowering (in `featuredsl.compiler.ops`) takes checked `Value`s and returns a `Value`
built from primitive IR nodes (`featuredsl.compiler.primitives`). Both backends implement only
primitives, so a formula written once here issues the same IEEE operations in the same order in
numpy and in onnxruntime by construction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from featuredsl.compiler.ir import Builder, Node, constant_value
from featuredsl.compiler.types import DType, Shape, Type
from featuredsl.language.diagnostics import Span

MICROS_PER_SECOND = 1_000_000
MICROS_PER_DAY = 86_400 * MICROS_PER_SECOND
TWO_POW_63 = 2.0**63
TWO_POW_52 = 2.0**52
TWO_POW_53 = 2.0**53
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


def check_comparable(a: Value, b: Value) -> None:
    """Comparisons need one dtype, or int with float (promoted); anything else is a user error."""
    if a.dtype is b.dtype or (a.dtype.numeric and b.dtype.numeric):
        return
    raise LoweringError(
        f"cannot compare {a.dtype} with {b.dtype}",
        "compare values of one type; convert with float(...), int(...) or bool(...)",
    )


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


def fitted(
    e: Emitter, analyzer: str, x: Value, dtype: DType, shape: Shape = Shape.SCALAR, **params: Any
) -> Node:
    mask = null_mask(e, x) if x.nullable else None
    args = (x.node,) if mask is None else (x.node, mask)
    width = None if shape is Shape.LIST else 1
    return e.b.node(
        "fitted", args, Type(dtype, shape, width), {"analyzer": analyzer, **params}, e.span
    )


def literal(value: Value) -> Any:
    """The Python value of a literal argument (the checker has made sure it is one)."""
    return constant_value(value.node)
