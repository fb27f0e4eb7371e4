"""Every way each op of the registry can be called, by argument dtypes (what the generator draws from)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from featuredsl.compiler import registry as reg
from featuredsl.compiler.op import ANY, Op
from featuredsl.compiler.types import DType

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MICROS_PER_DAY = 86_400_000_000


BUCKET_COUNTS = (1, 2, 7, 1000, 2**32, INT64_MAX)  # hash_bucket / cross moduli worth hitting
QUANTILE_LEVELS = (0.0, 0.01, 0.25, 0.5, 0.75, 0.99, 1.0)

EXTRA_FLOATS = (
    0.125,
    0.375,
    2.675,
    1.005,
    0.49999999999999994,
    -1.5,
    3.5,
    1e16,
    4503599627370495.5,  # 2**52 - 0.5: floor(x + 0.5) rounds it wrong
    1e-310,
)
EXTRA_STRINGS = (
    "a",
    "A",
    "b",
    "DE",
    "de",
    "é",
    "É",
    "ß",
    "ǅ",
    "İ",
    "😀",
    "1",
    "-0",
    "a b",
    " a",
    "a ",
    "\u2028",
)
LEAP_DAYS = (
    11_017 * MICROS_PER_DAY,  # 2000-03-01
    11_016 * MICROS_PER_DAY,  # 2000-02-29
    19_782 * MICROS_PER_DAY,  # 2024-02-29
    -25_508 * MICROS_PER_DAY,  # 1900-03-01
    -135_081 * MICROS_PER_DAY,  # 1600-02-29
    47_540 * MICROS_PER_DAY,  # 2100-02-28
    -1_000_000,  # 1969-12-31T23:59:59
    -MICROS_PER_DAY - 1,
    INT64_MIN,
    INT64_MAX,
)
# Column names that shadow functions or sit close to names in the generated module.
IDENTIFIER_EXTRAS = (
    "log",
    "hour",
    "mean",
    "vocab",
    "rows",
    "out",
    "np",
    "columns",
    "v0",
    "_x",
    "A",
    "const_1",  # the ONNX backend's own value names (GraphContext.fresh)
    "where_2",
    "width",  # a name local to a Loop body
)
KEYWORDS = "spec input let feature if then else and or not true false null"
RESERVED = frozenset(KEYWORDS.split()) | {t.value for t in DType} | set(reg.CONSTANTS)


@dataclass(frozen=True)
class Signature:
    """One way to call an op: a dtype kind per parameter group, and the dtype that results.

    A numeric group of kind FLOAT may mix ints and floats (at least one float); kind INT is ints.
    """

    op: Op
    groups: tuple[tuple[int, ...], ...]  # parameter indices that must agree in dtype
    kinds: tuple[DType, ...]  # one per group
    result: DType

    def kind_of(self, index: int) -> DType:
        for group, kind in zip(self.groups, self.kinds, strict=True):
            if index in group:
                return kind
        raise IndexError(index)


def param_groups(op: Op) -> tuple[tuple[int, ...], ...]:
    """Parameters accepting the same several dtypes must agree (e.g. both sides of ==)."""
    groups: list[list[int]] = []
    for index, param in enumerate(op.params):
        for group in groups:
            first = op.params[group[0]]
            if op.same_typed and len(param.accepts) > 1 and first.accepts == param.accepts:
                group.append(index)
                break
        else:
            groups.append([index])
    return tuple(tuple(g) for g in groups)


def _result(op: Op, groups: tuple[tuple[int, ...], ...], kinds: tuple[DType, ...]) -> DType | None:
    by_param = {i: kind for group, kind in zip(groups, kinds, strict=True) for i in group}
    if op.returns in ("same", "promote"):
        return by_param[0]
    if op.returns == "unify":
        first_any = next(i for i, p in enumerate(op.params) if p.accepts == ANY)
        return by_param[first_any]
    if op.returns.startswith("list["):
        return None
    return op.returns.dtype([])


def enumerate_signatures(ops: Sequence[Op] = reg.OPS) -> tuple[Signature, ...]:
    out: list[Signature] = []
    for op in ops:
        groups = param_groups(op)
        for kinds in _products([sorted(op.params[g[0]].accepts) for g in groups]):
            result = _result(op, groups, tuple(kinds))
            if result is not None:
                out.append(Signature(op, groups, tuple(kinds), result))
    return tuple(out)


def _products(choices: list[list[DType]]) -> list[list[DType]]:
    combos: list[list[DType]] = [[]]
    for options in choices:
        combos = [[*c, o] for c in combos for o in options]
    return combos


SIGNATURES = enumerate_signatures()
LIST_ANALYZERS = tuple(op for op in reg.OPS if op.analyzer and op.returns.startswith("list["))
