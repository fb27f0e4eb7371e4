"""The op registry: every surface op, collected from its family's module, and the lookups on it.

Families (`featuredsl.compiler.ops`): arithmetic, math, logic, nulls, casts, analyzers (and the
scalers built on them), categorical, strings, time. docs/language.md is generated from these
declarations (`python -m featuredsl.compiler.docgen`); a test checks that the two agree.
"""

from __future__ import annotations

from featuredsl.compiler.op import Op
from featuredsl.compiler.ops import (
    analyzers,
    arithmetic,
    casts,
    categorical,
    logic,
    math,
    nulls,
    strings,
    time,
)

FAMILIES = (arithmetic, math, logic, nulls, casts, analyzers, categorical, strings, time)
OPS: tuple[Op, ...] = tuple(op for family in FAMILIES for op in family.OPS)

OPERATOR_OPS = {(op.operator, len(op.params)): op for op in OPS if op.operator}
FUNCTIONS: dict[str, list[Op]] = {}
for _op in OPS:
    if not _op.operator:
        FUNCTIONS.setdefault(_op.name, []).append(_op)

# List analyzers whose result is strictly increasing (fit for bucket boundaries).
INCREASING_LISTS = frozenset(op.name for op in OPS if op.analyzer and op.increasing)

# Names that are constants rather than columns.
CONSTANTS: dict[str, float] = {"pi": 3.141592653589793, "inf": float("inf"), "nan": float("nan")}

# Inputs every language-reference example is written against.
EXAMPLE_INPUTS = (
    ("x", "float", False),
    ("y", "float", True),
    ("n", "int", False),
    ("k", "int", True),
    ("s", "string", False),
    ("s2", "string", True),
    ("b", "bool", False),
    ("t", "timestamp", False),
    ("t2", "timestamp", False),
)


def find_op(name: str, arg_count: int) -> Op | None:
    """The function called `name` that takes `arg_count` arguments, or None.

    Two ops may share a name with different arities (min/max: the analyzer takes one argument,
    the elementwise op two or more); with no match by arity the first op of that name is returned
    so that the checker can report the arity error against it.
    """
    candidates = FUNCTIONS.get(name, [])
    for op in candidates:
        required = sum(1 for p in op.params if not p.optional)
        if op.variadic and arg_count >= len(op.params):
            return op
        if required <= arg_count <= len(op.params):
            return op
    return candidates[0] if candidates else None
