"""How a surface op is declared: `Op` and `Param`, the null rules and the result-type rules.

Each op is declared once, in its family's module under `featuredsl.compiler.ops`, and the
declaration carries everything about it: signature (parameters with accepted dtypes, literal-only
parameters and their valid ranges), result-type rule, null rule, whether NaN already carries
nulls through it, the lowering to primitives, documentation and an example. The checker, the
language reference (docs/language.md), the fuzzer's spec generator and the tests all read these
declarations; `featuredsl.compiler.registry` collects them.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from featuredsl.compiler.types import DType

NUM = frozenset({DType.INT, DType.FLOAT})
FLOAT_ONLY = frozenset({DType.FLOAT})
INT_ONLY = frozenset({DType.INT})
BOOL = frozenset({DType.BOOL})
STR = frozenset({DType.STRING})
TS = frozenset({DType.TIMESTAMP})
CATEGORICAL = frozenset({DType.STRING, DType.INT})
ORDERED = frozenset({DType.INT, DType.FLOAT, DType.TIMESTAMP})
ANY = frozenset(DType)
CASTABLE = frozenset({DType.INT, DType.FLOAT, DType.BOOL})

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


class NullRule(str, enum.Enum):
    """What an op does when an argument may be null."""

    PROPAGATE = "propagate"
    REJECT = "reject"
    HANDLES = "handles"
    SKIP = "skip"

    __str__ = str.__str__

    @property
    def text(self) -> str:
        """The rule in words, as the language reference shows it."""
        return _NULL_RULE_TEXT[self]


_NULL_RULE_TEXT = {
    NullRule.PROPAGATE: "null in any argument gives null (floats: NaN)",
    NullRule.REJECT: "arguments must not be nullable: wrap them in fill_null(...) first",
    NullRule.HANDLES: "handles nulls itself (see description)",
    NullRule.SKIP: "nulls (and NaN) are left out of the statistic",
}
PROPAGATE, REJECT, HANDLES, SKIP = NullRule  # short names for declarations


class Returns(str, enum.Enum):
    """The result-type rule of an op: a function of the argument dtypes."""

    FLOAT = "float"
    INT = "int"
    BOOL = "bool"
    STRING = "string"
    TIMESTAMP = "timestamp"
    SAME = "same"  # the first argument's dtype
    PROMOTE = "promote"  # float if any argument is float, else int
    UNIFY = "unify"  # the branches' common dtype, decided by the lowering (if, fill_null, ...)
    LIST_FLOAT = "list[float]"
    LIST_SAME = "list[same]"

    __str__ = str.__str__

    @property
    def is_list(self) -> bool:
        return self in (Returns.LIST_FLOAT, Returns.LIST_SAME)

    def dtype(self, args: list[DType]) -> DType | None:
        """The result dtype for these argument dtypes (None for UNIFY: the lowering decides)."""
        if self in (Returns.FLOAT, Returns.LIST_FLOAT):
            return DType.FLOAT
        if self is Returns.INT:
            return DType.INT
        if self is Returns.BOOL:
            return DType.BOOL
        if self is Returns.STRING:
            return DType.STRING
        if self is Returns.TIMESTAMP:
            return DType.TIMESTAMP
        if self in (Returns.SAME, Returns.LIST_SAME):
            return args[0]
        if self is Returns.PROMOTE:
            return DType.FLOAT if DType.FLOAT in args else DType.INT
        return None


@dataclass(frozen=True)
class Param:
    """One parameter of an op.

    `range` (inclusive) bounds a literal parameter: the checker rejects a literal outside it with
    a caret, and the fuzzer draws from it (narrowed to `typical` when given, so that generated
    specs stay small).
    """

    name: str
    accepts: frozenset[DType]
    literal: bool = False  # must be written as a literal in the spec
    is_list: bool = False  # a list: a literal [..] or a list analyzer (quantiles, vocab)
    optional: bool = False
    default: str = ""  # shown in the docs
    row: bool = True  # may be a per-row value (False: a scalar such as a literal or statistic)
    null_ok: bool = True  # a nullable value is allowed here (when the op's null rule allows it)
    range: tuple[float, float] | None = None  # valid literal values, inclusive
    typical: tuple[float, float] | None = None  # the part of `range` the fuzzer draws from
    hint: str = ""  # the fix shown when a literal is out of range
    samples: tuple[Any, ...] = ()  # literal values the fuzzer draws from (when not any value)
    per_row: bool = False  # a statistic is fitted on it, so a constant is refused (scalers)
    increasing: bool = False  # a list whose items must be strictly increasing (boundaries)

    def out_of_range(self, value: Any) -> bool:
        """Whether a literal value lies outside `range` (NaN is outside every range)."""
        if self.range is None or isinstance(value, (str, bool)):
            return False
        low, high = self.range
        return not (low <= value <= high)

    @property
    def draw_range(self) -> tuple[float, float] | None:
        return self.typical or self.range


@dataclass(frozen=True)
class ConstantCheck:
    """A static trap: arguments that, written as constants, can only be a mistake.

    When every parameter in `params` is given a constant (a literal, or a `let` bound to one),
    `bad(*values)` decides; a True is a compile error at the last of them, with `message` and
    `hint`. The fuzzer's spec generator avoids the same values through the same check.
    """

    params: tuple[str, ...]
    bad: Callable[..., bool]
    message: str
    hint: str


@dataclass(frozen=True)
class Op:
    """A surface op: everything the checker, the backends (through lowering) and the docs need."""

    name: str
    category: str
    params: tuple[Param, ...]
    returns: Returns
    null_rule: NullRule
    lower: Callable[..., Any]  # (Emitter, *Value) -> Value, see featuredsl.compiler.builder
    doc: str
    example: str
    analyzer: bool = False
    variadic: bool = False  # the last parameter repeats (at least once more)
    operator: str = ""  # for operators: the symbol
    nan_propagating: bool = False  # NaN in gives NaN out, so float nulls need no extra mask
    null_literal_ok: bool = False  # the null literal is accepted as an argument (if, fill_null)
    multi_column: bool = False  # the result spans several columns: only a feature on its own
    same_typed: bool = True  # parameters that accept the same dtypes must agree (not: cross)
    constant_checks: tuple[ConstantCheck, ...] = ()
    makes_nulls: bool = False  # the result can be null when no argument is (make_timestamp)
    increasing: bool = False  # a list analyzer whose result is strictly increasing (quantiles)

    def fits_on(self, param: Param) -> bool:
        """Whether a statistic is fitted on this parameter, so that it must be a per-row value:
        an analyzer's first parameter, or one declared `per_row` (the scalers' x)."""
        return param.per_row or (self.analyzer and param is self.params[0])

    @property
    def signature(self) -> str:
        parts = []
        for p in self.params:
            text = p.name
            if p.optional:
                text += f"={p.default}"
            parts.append(text)
        if self.variadic:
            parts.append("...")
        if self.name == "if":
            return "if condition then a else b"  # syntax, not a call
        if self.operator:
            names = [p.name for p in self.params]
            if len(names) == 2:
                return f"{names[0]} {self.operator} {names[1]}"
            space = " " if self.operator.isalpha() else ""  # "not b", but "-x"
            return f"{self.operator}{space}{names[0]}"
        return f"{self.name}({', '.join(parts)})"


def param(name: str, accepts: frozenset[DType], **kw: Any) -> Param:
    """Shorthand for `Param(name, accepts, ...)` in op declarations."""
    return Param(name, accepts, **kw)


DIVISOR_NOT_ZERO = ConstantCheck(
    ("b",),
    lambda b: b == 0,
    "division by a constant zero",
    "floats would give +-inf or NaN on every row and ints 0: divide by a column, or guard it, "
    "e.g. a / max(b, 1)",
)


X = param("x", NUM)
A_NUM, B_NUM = param("a", NUM), param("b", NUM)
