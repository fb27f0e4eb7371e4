"""Differential fuzzing: random well-typed specs and adversarial data, numpy module vs ONNX graph.

The spec generator is driven by the op catalogue (`featuredsl.compiler.registry`): each op's parameters,
accepted dtypes, literal-only and list parameters, type rule and null rule come from there, and
`SIGNATURES`, enumerated from it, says which argument dtypes make an op return which dtype.
Specs are generated as *text*, so the parser, the checker and the formatter run on every case.
Null-safety is kept the way a user would keep it: every nullable value that reaches a parameter
that rejects nulls is wrapped in fill_null(...) (with a literal or a fitted statistic) or is_null.

A case is fitted on one random feed and both artifacts are compared on another with
`featuredsl.parity.compare`; any violation, crash or internal error raises. Hypothesis shrinks
a failure to a minimal spec and minimal rows; `save_regression` writes it as JSON for replay.

What the catalogue does not say is kept in the small tables below (valid literal ranges, which
arguments must agree in dtype): they restate rules the lowering enforces.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from featuredsl.artifact.conformance import edge_cases as edge
from featuredsl.artifact.contract import OUTPUT, mask_name
from featuredsl.compiler import registry as reg
from featuredsl.compiler.op import ANY, NullRule, Op, Param
from featuredsl.compiler.types import DType

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
NUMERIC = frozenset({DType.INT, DType.FLOAT})
LITERAL_DTYPES = frozenset({DType.INT, DType.FLOAT, DType.BOOL, DType.STRING})
FEATURE_DTYPES = (DType.FLOAT, DType.INT, DType.BOOL)
MICROS_PER_DAY = 86_400_000_000

# ----------------------------------------------------------------------------- settings

EXAMPLES_ENV = "FEATUREDSL_FUZZ_EXAMPLES"
DEFAULT_EXAMPLES = 60


def fuzz_examples(default: int = DEFAULT_EXAMPLES) -> int:
    """The number of random specs to run, from $FEATUREDSL_FUZZ_EXAMPLES."""
    return max(1, int(os.environ.get(EXAMPLES_ENV, default)))


settings.register_profile(
    "featuredsl-fuzz",
    max_examples=fuzz_examples(),
    deadline=None,
    derandomize=True,  # the same cases on every CI run; regressions are kept as files instead
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)
FUZZ_SETTINGS = settings.get_profile("featuredsl-fuzz")

# ----------------------------------------------------------------------------- what the catalogue does not say

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

# ----------------------------------------------------------------------------- signatures from the catalogue


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

# ----------------------------------------------------------------------------- generated expressions


@dataclass(frozen=True)
class Typed:
    """A generated expression: its text and what the checker will infer for it."""

    text: str
    dtype: DType
    nullable: bool = False
    row: bool = True
    is_list: bool = False
    atom: bool = True  # safe as an operand without parentheses
    null_literal: bool = False
    value: float | None = None  # a numeric constant's value (literal, constant name or let)
    increasing: bool = False  # a list whose items strictly increase (Param.increasing)


@dataclass(frozen=True)
class Column:
    name: str
    dtype: DType
    nullable: bool

    @property
    def declaration(self) -> str:
        return f"{self.name}: {self.dtype}{'?' if self.nullable else ''}"


@dataclass
class Pools:
    """Literals of a spec, so that data can hit them and their neighbours."""

    floats: list[float] = field(default_factory=list)
    ints: list[int] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)
    round_digits: list[int] = field(default_factory=list)

    def as_edge_pool(self) -> dict[str, list[Any]]:
        return {
            "float": self.floats,
            "int": self.ints,
            "string": self.strings,
            "round_digits": self.round_digits,
        }


@dataclass(frozen=True)
class GeneratedSpec:
    text: str
    columns: tuple[Column, ...]
    pools: Pools


Draw = Callable[[st.SearchStrategy[Any]], Any]


class SpecGenerator:
    """Draws one spec: inputs, lets and features, every expression typed by the catalogue."""

    def __init__(self, draw: Draw, columns: Sequence[Column], weights: Mapping[str, float]):
        self.draw = draw
        self.weights = weights  # op name or category -> how much more often it is drawn
        self.names: list[Typed] = [Typed(c.name, c.dtype, c.nullable) for c in columns]
        self.pools = Pools()
        self.level = self._levels()
        self.costs = [self._row_cost(sig, self.level) for sig in SIGNATURES]

    # ------------------------------------------------------------------ reachability
    def _levels(self) -> dict[DType, int]:
        """The least depth at which a per-row value of each dtype can be built (fixed point)."""
        level = {t.dtype: 0 for t in self.names if t.row and not t.is_list}
        changed = True
        while changed:
            changed = False
            for sig in SIGNATURES:
                if sig.op.analyzer or sig.op.multi_column:
                    continue
                if sig.result is DType.TIMESTAMP and sig.result not in level:
                    continue  # make_timestamp joins specs that have timestamp columns
                cost = self._row_cost(sig, level)
                if cost is not None and cost + 1 < level.get(sig.result, 99):
                    level[sig.result] = cost + 1
                    changed = True
        return level

    def _row_cost(self, sig: Signature, level: Mapping[DType, int]) -> int | None:
        """The least level of a per-row argument of sig, if its other arguments can be built."""
        best: int | None = None
        for index, param in enumerate(sig.op.params):
            if param.optional:
                continue
            kinds = self._member_dtypes(sig, index)
            if not param.literal and not param.is_list and param.row:
                costs = [level[k] for k in kinds if k in level]
                if costs:
                    best = min(costs) if best is None else min(best, min(costs))
            if not self._buildable(param, kinds, level):
                return None
        return best

    def _buildable(self, param: Param, kinds: Sequence[DType], level: Mapping[DType, int]) -> bool:
        if param.literal or param.is_list:
            return any(k in LITERAL_DTYPES for k in kinds)
        return any(k in LITERAL_DTYPES or k in level for k in kinds)

    @staticmethod
    def _member_dtypes(sig: Signature, index: int) -> list[DType]:
        kind = sig.kind_of(index)
        return (
            [DType.INT, DType.FLOAT]
            if kind is DType.FLOAT and sig.op.params[index].accepts >= NUMERIC
            else [kind]
        )

    def can_build(self, dtype: DType, row: bool) -> bool:
        return dtype in self.level or (not row and dtype in LITERAL_DTYPES)

    # ------------------------------------------------------------------ expressions
    def expr(self, dtype: DType, depth: int, row: bool) -> Typed:
        if row or dtype not in LITERAL_DTYPES:
            depth = max(depth, self.level.get(dtype, 0))
        sigs = self._candidates(dtype, depth, row)
        leaf_ok = self._leaves(dtype, row)
        if leaf_ok and (not sigs or depth <= 0 or self.draw(st.integers(0, 3)) == 0):
            return self._leaf(leaf_ok)
        if not sigs:
            raise AssertionError(
                f"generator: no way to build a {'row ' if row else ''}{dtype} at depth {depth}"
            )
        for _ in range(10):
            result = self.call(self._pick(sigs), depth, row)
            # The checker folds some calls to constants (is_null of a non-nullable value): retry.
            if result.row or not row:
                return result
        if leaf_ok:
            return self._leaf(leaf_ok)
        raise AssertionError(f"generator: every call drawn for a row {dtype} was a constant")

    def _pick(self, sigs: Sequence[Signature]) -> Signature:
        # Choose the op first (weighted by category), then one of its signatures.
        ops = list(dict.fromkeys(s.op for s in sigs))
        weights = [self.weights.get(op.name, self.weights.get(op.category, 1.0)) for op in ops]
        if any(w != 1.0 for w in weights):
            op = ops[_weighted_index(weights, self.draw(st.floats(0, 1, exclude_max=True)))]
        else:
            op = self.draw(st.sampled_from(ops))
        return self.draw(st.sampled_from([s for s in sigs if s.op is op]))

    def _candidates(self, dtype: DType, depth: int, row: bool) -> list[Signature]:
        if depth <= 0:
            return []
        out = []
        for sig, cost in zip(SIGNATURES, self.costs, strict=True):
            if sig.result is not dtype or sig.op.multi_column or (sig.op.analyzer and row):
                continue
            if sig.result is DType.TIMESTAMP and not row:
                # A constant instant (make_timestamp of literals) would reopen the depth the
                # expression budget gives timestamps; constants of other types cover the checker.
                continue
            if cost is not None and cost <= depth - 1:
                out.append(sig)
        return out

    def _leaves(self, dtype: DType, row: bool) -> list[Callable[[], Typed]]:
        """Ways to write a value without a call: a name, a literal or a constant (drawn lazily)."""
        names = [t for t in self.names if t.dtype is dtype and not t.is_list and (t.row or not row)]
        leaves: list[Callable[[], Typed]] = (
            [lambda: self.draw(st.sampled_from(names))] if names else []
        )
        if not row and dtype in LITERAL_DTYPES:
            leaves.append(lambda: self.literal(dtype))
        if not row and dtype is DType.FLOAT:
            constants = [
                Typed("pi", dtype, row=False, value=math.pi),
                Typed("inf", dtype, row=False, value=math.inf),
            ]
            leaves.append(lambda: self.draw(st.sampled_from(constants)))
        return leaves

    def _leaf(self, leaves: list[Callable[[], Typed]]) -> Typed:
        return self.draw(st.sampled_from(leaves))()

    def call(self, sig: Signature, depth: int, row: bool) -> Typed:
        # The op's static traps (ConstantCheck) refuse some constant arguments: draw again.
        for _ in range(20):
            params, args = self._call_arguments(sig, depth, row)
            if not _trips_constant_check(sig.op, params, args):
                return self.render(sig.op, params, args, sig)
        raise AssertionError(f"generator: {sig.op.name} keeps drawing refused constants")

    def _call_arguments(
        self, sig: Signature, depth: int, row: bool
    ) -> tuple[list[Param], list[Typed]]:
        op = sig.op
        params = self._arg_params(op)
        dtypes = self._arg_dtypes(sig, params)
        fitted_on = [i for i, p in enumerate(params) if op.fits_on(p)]
        # A statistic is fitted on some arguments (analyzers, scalers): they must be per-row.
        row_index = (
            self._row_argument(params, dtypes, depth, fitted_on) if (row or fitted_on) else None
        )
        null_slot = self._null_slot(op, params, dtypes, sig, row_index)
        args: list[Typed] = []
        for index, (param, dtype) in enumerate(zip(params, dtypes, strict=True)):
            if index == null_slot:
                args.append(Typed("null", dtype, nullable=True, row=False, null_literal=True))
                continue
            arg = self.argument(op, param, dtype, depth, index == row_index, dtypes)
            if arg.nullable and (op.null_rule == NullRule.REJECT or not param.null_ok):
                arg = self.fix_null(arg, depth)
            args.append(arg)
        return params, args

    def _arg_params(self, op: Op) -> list[Param]:
        params = [p for p in op.params if not p.optional or self.draw(st.booleans())]
        if op.variadic:
            params += [op.params[-1]] * self.draw(st.integers(0, 2))
        return params

    def _arg_dtypes(self, sig: Signature, params: list[Param]) -> list[DType]:
        dtypes: list[DType] = []
        for param in params:
            kinds = self._member_dtypes(sig, sig.op.params.index(param))
            options = [k for k in kinds if self._param_buildable(param, k)] or kinds
            dtypes.append(self.draw(st.sampled_from(options)))
        # A FLOAT group needs at least one float member for its result to be float.
        for group, kind in zip(sig.groups, sig.kinds, strict=True):
            members = [i for i, p in enumerate(params) if sig.op.params.index(p) in group]
            if (
                kind is DType.FLOAT
                and members
                and all(dtypes[i] is not DType.FLOAT for i in members)
            ):
                dtypes[self.draw(st.sampled_from(members))] = DType.FLOAT
        return dtypes

    def _param_buildable(self, param: Param, dtype: DType) -> bool:
        if param.literal or param.is_list:
            return dtype in LITERAL_DTYPES
        return self.can_build(dtype, row=False)

    def _row_argument(
        self, params: list[Param], dtypes: list[DType], depth: int, only: Sequence[int] = ()
    ) -> int | None:
        """The argument that makes the call per-row (one of `only` when given): one that fits in
        the depth left, if any does."""
        options = [
            i
            for i, (p, d) in enumerate(zip(params, dtypes, strict=True))
            if not p.literal and not p.is_list and p.row and d in self.level
            if not only or i in only
        ]
        cheap = [i for i in options if self.level[dtypes[i]] <= depth - 1]
        if cheap:
            return self.draw(st.sampled_from(cheap))
        return min(options, key=lambda i: self.level[dtypes[i]]) if options else None

    def _null_slot(
        self,
        op: Op,
        params: list[Param],
        dtypes: list[DType],
        sig: Signature,
        row_index: int | None,
    ) -> int | None:
        """Where to write the null literal (if anywhere): never in the argument that makes the call per-row."""
        if not op.null_literal_ok or self.draw(st.integers(0, 5)) != 0:
            return None
        slots = [i for i, p in enumerate(params) if p.accepts == ANY and i != row_index]
        if not slots:
            return None
        slot: int = self.draw(st.sampled_from(slots))
        others = [i for i, p in enumerate(params) if p.accepts == ANY and i != slot]
        if sig.result is DType.FLOAT and not any(dtypes[i] is DType.FLOAT for i in others):
            dtypes[others[0]] = DType.FLOAT  # the null takes the other side's type
        return slot

    def argument(
        self, op: Op, param: Param, dtype: DType, depth: int, row: bool, dtypes: list[DType]
    ) -> Typed:
        if param.literal:
            return self.param_literal(op, param, dtype, dtypes)
        if param.is_list:
            return self.list_value(dtype, depth, param.accepts, param.increasing)
        sub_depth = self.draw(st.integers(0, max(0, depth - 1)))
        if op.fits_on(param) and not (row and self.can_build(dtype, row=True)):
            raise AssertionError(f"generator: {op.name} fitted on a constant {dtype}")
        return self.expr(dtype, sub_depth, row)

    # ------------------------------------------------------------------ nulls
    def fix_null(self, arg: Typed, depth: int) -> Typed:
        """What a user writes where nulls are not allowed: fill_null(x, ...) or is_null(x)."""
        if arg.dtype is DType.BOOL and self.draw(st.booleans()):
            return Typed(f"is_null({arg.text})", DType.BOOL, row=arg.row)
        value = self.fill_value(arg, depth)
        return Typed(f"fill_null({arg.text}, {value.text})", arg.dtype, False, arg.row or value.row)

    def fill_value(self, arg: Typed, depth: int) -> Typed:
        analyzers = [
            s
            for s in SIGNATURES
            if s.op.analyzer
            and s.result is arg.dtype
            and s.kinds[0] is arg.dtype
            and len(s.op.params) == 1
        ]
        choice = self.draw(st.integers(0, 2))
        if arg.row and analyzers and (choice == 0 or arg.dtype not in LITERAL_DTYPES):
            sig = self.draw(st.sampled_from(analyzers))
            return Typed(f"{sig.op.name}({arg.text})", arg.dtype, row=False)
        if choice == 1:
            candidate = self.expr(arg.dtype, min(depth, 1), row=False)
            if not candidate.nullable:
                return candidate
        if arg.dtype in LITERAL_DTYPES:
            return self.literal(arg.dtype)
        plain = [t for t in self.names if t.dtype is arg.dtype and not t.nullable and not t.is_list]
        if plain:
            return self.draw(st.sampled_from(plain))
        source = self.draw(
            st.sampled_from([t for t in self.names if t.dtype is arg.dtype and t.row])
        )
        return Typed(f"min({source.text})", arg.dtype, row=False)

    # ------------------------------------------------------------------ literals and lists
    def literal(self, dtype: DType) -> Typed:
        if dtype is DType.BOOL:
            return Typed(self.draw(st.sampled_from(["true", "false"])), dtype, row=False)
        if dtype is DType.INT:
            return self.int_literal(self.draw(_int_literals()))
        if dtype is DType.FLOAT:
            return self.float_literal(self.draw(_float_literals()))
        if dtype is DType.STRING:
            return self.string_literal(self.draw(_string_literals()))
        raise AssertionError(f"no literal of {dtype}")

    def int_literal(self, value: int) -> Typed:
        self.pools.ints.append(value)
        return Typed(str(value), DType.INT, row=False, atom=value >= 0, value=value)

    def float_literal(self, value: float) -> Typed:
        if math.isnan(value):
            return Typed("nan", DType.FLOAT, row=False, value=value)
        self.pools.floats.append(value)
        if math.isinf(value):
            text = "inf" if value > 0 else "-inf"
            return Typed(text, DType.FLOAT, row=False, atom=value > 0, value=value)
        text = repr(abs(value))
        negative = math.copysign(1.0, value) < 0
        text = ("-" if negative else "") + text
        return Typed(text, DType.FLOAT, row=False, atom=not negative, value=value)

    def string_literal(self, value: str) -> Typed:
        self.pools.strings.append(value)
        escape_all = self.draw(st.integers(0, 4)) == 0
        return Typed(quote(value, escape_all), DType.STRING, row=False)

    def param_literal(self, op: Op, param: Param, dtype: DType, dtypes: list[DType]) -> Typed:
        if op.name == "quantile" and param.name == "q":
            level = self.draw(st.one_of(st.sampled_from(QUANTILE_LEVELS), st.floats(0, 1)))
            return (
                self.float_literal(level)
                if dtype is DType.FLOAT
                else self.int_literal(round(level))
            )
        if op.name == "matches":
            return Typed(quote(self.draw(portable_patterns())), DType.STRING, row=False)
        if param.samples:
            value = self.draw(st.sampled_from(param.samples))
            if dtype is DType.STRING:
                self.pools.strings.append(value)
                return Typed(quote(value), DType.STRING, row=False)
        if dtype is DType.STRING:
            return self.string_literal(self.draw(_string_literals()))
        if dtype is not DType.INT:
            return self.literal(dtype)
        low, high = (int(v) for v in (param.draw_range or (-5, 5)))
        value = self.draw(st.integers(low, high))
        worth_hitting = [n for n in BUCKET_COUNTS if not param.out_of_range(n)]
        if param.name == "n" and param.range == (1, INT64_MAX) and self.draw(st.booleans()):
            value = self.draw(st.sampled_from(worth_hitting))
        if param.name == "ndigits":
            self.pools.round_digits.append(value)
        return self.int_literal(value)

    def list_value(
        self, dtype: DType, depth: int, accepts: frozenset[DType], increasing: bool = False
    ) -> Typed:
        """A constant list: a literal, a list analyzer over a row expression, or a let bound to one
        (when `increasing`, only those whose items strictly increase: Param.increasing)."""
        named = [
            t
            for t in self.names
            if t.is_list and t.dtype in accepts and _list_fits(t.dtype, dtype)
            if t.increasing or not increasing
        ]
        analyzers = [
            op
            for op in LIST_ANALYZERS
            if self._list_analyzer_dtype(op, dtype) in accepts and self.can_build(dtype, True)
            if op.increasing or not increasing
        ]
        choice = self.draw(st.integers(0, 2))
        if choice == 0 and named:
            return self.draw(st.sampled_from(named))
        if choice == 1 and analyzers:
            return self.list_analyzer(self.draw(st.sampled_from(analyzers)), dtype, depth)
        return self.list_literal(dtype, ordered=increasing or DType.FLOAT in accepts)

    @staticmethod
    def _list_analyzer_dtype(op: Op, dtype: DType) -> DType | None:
        source = op.params[0].accepts
        if dtype not in source:
            return None
        result = DType.FLOAT if op.returns == "list[float]" else dtype
        return result if _list_fits(result, dtype) else None

    def list_analyzer(self, op: Op, dtype: DType, depth: int) -> Typed:
        source = self.expr(dtype, self.draw(st.integers(0, max(0, depth - 1))), row=True)
        parts = [source.text]
        for param in op.params[1:]:
            if param.optional and self.draw(st.booleans()):
                continue
            value = self.param_literal(op, param, DType.INT, [dtype]).text
            parts.append(f"{param.name}={value}" if param.optional else value)
        result = DType.FLOAT if op.returns == "list[float]" else dtype
        return Typed(
            f"{op.name}({', '.join(parts)})",
            result,
            row=False,
            is_list=True,
            increasing=op.increasing,
        )

    def list_literal(self, dtype: DType, ordered: bool) -> Typed:
        """Distinct items; boundaries (ordered) strictly increasing also after int -> float."""
        if dtype is DType.STRING:
            texts: list[str] = self.draw(
                st.lists(_string_literals(), min_size=1, max_size=5, unique=True)
            )
            return Typed(
                f"[{', '.join(self.string_literal(v).text for v in texts)}]",
                dtype,
                row=False,
                is_list=True,
            )
        if dtype is DType.INT:
            ints: list[int] = self.draw(
                st.lists(_int_literals(), min_size=1, max_size=5, unique_by=float)
            )
            ints = sorted(ints) if ordered else ints
            return Typed(
                f"[{', '.join(self.int_literal(v).text for v in ints)}]",
                dtype,
                row=False,
                is_list=True,
                increasing=ordered,
            )
        finite_or_inf = _float_literals().filter(lambda v: not math.isnan(v))
        floats: list[float] = sorted(
            self.draw(st.lists(finite_or_inf, min_size=1, max_size=5, unique_by=float))
        )
        return Typed(
            f"[{', '.join(self.float_literal(v).text for v in floats)}]",
            dtype,
            row=False,
            is_list=True,
            increasing=True,
        )

    # ------------------------------------------------------------------ rendering
    def render(self, op: Op, params: list[Param], args: list[Typed], sig: Signature) -> Typed:
        row = any(a.row for a in args) and not op.analyzer
        if op.name == "is_null" and not args[0].nullable:
            row = False  # the checker folds it to the constant false
        if op.name == "null_if":
            row = args[0].row  # its value is x's (only the null mask follows `value`)
        nullable = result_nullable(op, args)
        if op.name == "if":
            text = f"(if {args[0].text} then {args[1].text} else {args[2].text})"
            return Typed(text, sig.result, nullable, row, atom=True)
        if op.operator and len(args) == 2:
            text = f"({operand(args[0])} {op.operator} {operand(args[1])})"
            return Typed(text, sig.result, nullable, row, atom=True)
        if op.operator:
            space = " " if op.operator.isalpha() else ""
            negated = -args[0].value if op.name == "neg" and args[0].value is not None else None
            text = f"({op.operator}{space}{operand(args[0])})"
            return Typed(text, sig.result, nullable, row, atom=True, value=negated)
        parts = []
        keyword = False
        for param, arg in zip(params, args, strict=True):
            # After a left-out optional parameter, or a named one, the later ones must be named.
            keyword = keyword or (
                param.optional and (_skipped_before(op, params, param) or self.draw(st.booleans()))
            )
            parts.append(f"{param.name}={arg.text}" if keyword else arg.text)
        return Typed(f"{op.name}({', '.join(parts)})", sig.result, nullable, row)

    # ------------------------------------------------------------------ statements
    def let(self, index: int, depth: int) -> str:
        name = f"tmp{index}"
        if self.draw(st.integers(0, 4)) == 0:
            dtype = self.draw(st.sampled_from([DType.FLOAT, DType.INT, DType.STRING]))
            value = self.list_value(
                dtype,
                depth,
                frozenset({dtype, DType.FLOAT}) if dtype.numeric else frozenset({dtype}),
            )
        else:
            options = sorted(d for d in DType if self.can_build(d, row=True))
            dtype = self.draw(st.sampled_from(options))
            value = self.expr(dtype, depth, row=self.draw(st.integers(0, 4)) > 0)
        self.names.append(
            Typed(
                name,
                value.dtype,
                value.nullable,
                value.row,
                value.is_list,
                value=value.value,
                increasing=value.increasing,
            )
        )
        return f"let {name} = {value.text}"

    def feature(self, index: int, depth: int) -> str:
        name = f"feat{index}"
        one_hot = [
            s for s in SIGNATURES if s.op.multi_column and self._row_cost(s, self.level) is not None
        ]
        if one_hot and self.draw(st.integers(0, 7)) == 0:
            sig = self.draw(st.sampled_from(one_hot))
            value = self.call(sig, max(depth, 1), row=True)
        else:
            dtype = self.draw(st.sampled_from(FEATURE_DTYPES))
            value = self.expr(dtype, depth, row=self.draw(st.integers(0, 7)) > 0)
            if value.nullable:
                value = self.fix_null(value, depth)
        return f"feature {name} = {value.text}"


def _trips_constant_check(op: Op, params: Sequence[Param], args: Sequence[Typed]) -> bool:
    """Whether the checker may refuse these arguments by one of the op's ConstantChecks. A
    constant whose value the generator does not know (floor(0), a call the checker folds) may be
    refused as well as not: it counts as refused, so the spec is drawn again."""
    by_name = {param.name: arg for param, arg in zip(params, args, strict=True)}
    for check in op.constant_checks:
        given = [by_name.get(name) for name in check.params]
        if any(arg is None or arg.row for arg in given):
            continue
        values = [arg.value for arg in given if arg is not None]
        if any(v is None for v in values) or check.bad(*values):
            return True
    return False


def result_nullable(op: Op, args: Sequence[Typed]) -> bool:
    """What the catalogue's null rule says about the result (conservative: True when unsure)."""
    if op.makes_nulls:
        return True
    if op.null_rule in (NullRule.REJECT, NullRule.SKIP) or op.analyzer:
        return False
    if op.null_rule == NullRule.PROPAGATE:
        return any(a.nullable for a in args)
    if op.name == "is_null":
        return False
    if op.name == "fill_null":
        return args[1].nullable
    if op.name == "coalesce":
        return all(a.nullable for a in args)
    if op.name == "if":
        return args[1].nullable or args[2].nullable
    if op.name == "int":
        return args[0].nullable or args[0].dtype is DType.FLOAT
    return True


def _skipped_before(op: Op, params: Sequence[Param], param: Param) -> bool:
    return any(p not in params for p in op.params[: op.params.index(param)])


def operand(arg: Typed) -> str:
    return arg.text if arg.atom else f"({arg.text})"


def quote(value: str, escape_all: bool = False) -> str:
    """A spec string literal for value (escapes as the grammar defines them)."""
    out = []
    for char in value:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif ord(char) < 0x20 or (escape_all and ord(char) > 0x7E):
            out.append(f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _list_fits(list_dtype: DType, wanted: DType) -> bool:
    return list_dtype is wanted or (list_dtype in NUMERIC and wanted in NUMERIC)


def _weighted_index(weights: Sequence[float], u: float) -> int:
    total = sum(weights)
    acc = 0.0
    for index, weight in enumerate(weights):
        acc += weight / total
        if u < acc:
            return index
    return len(weights) - 1


# ----------------------------------------------------------------------------- literal strategies


def _int_literals() -> st.SearchStrategy[int]:
    return st.one_of(
        st.integers(-10, 10),
        st.sampled_from(
            [0, 1, -1, 2, 7, 100, 2**31, 2**53, 2**53 + 1, INT64_MAX, INT64_MIN, INT64_MIN + 1]
        ),
    )


def _float_literals() -> st.SearchStrategy[float]:
    return st.one_of(
        st.sampled_from(
            [
                0.0,
                -0.0,
                0.5,
                1.5,
                2.5,
                -0.5,
                0.1,
                1e-300,
                5e-324,
                1.7976931348623157e308,
                math.inf,
                -math.inf,
            ]
        ),
        st.floats(-100, 100).map(lambda v: round(v, 2)),
        st.floats(allow_nan=False, allow_infinity=False),
    )


def _string_literals() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from((*EXTRA_STRINGS, "", " ", "x")), _texts(max_size=4))


def _texts(max_size: int) -> st.SearchStrategy[str]:
    alphabet = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
    # featuredsl requires Unicode NFC text everywhere (non-NFC input is refused, and tested).
    return st.text(alphabet=alphabet, max_size=max_size).map(
        lambda s: unicodedata.normalize("NFC", s)
    )


@st.composite
def portable_patterns(draw: Draw, depth: int = 2) -> str:
    """A small regular expression in the portable subset matches() accepts."""
    atoms = [
        "a",
        "b",
        "D",
        "E",
        "1",
        "é",
        ".",
        "\\d",
        "\\w",
        "\\W",
        "[a-z]",
        "[^0-9]",
        "[A-Z_]",
        "\\.",
        " ",
    ]
    if depth > 0:
        atoms.append("(" + draw(portable_patterns(depth - 1)) + ")")
        atoms.append("(?:" + draw(portable_patterns(depth - 1)) + ")")
    quantifiers = ["", "", "", "*", "+", "?", "{2}", "{1,3}", "{0,}", "*?"]

    def sequence() -> str:
        parts = draw(st.lists(st.sampled_from(atoms), min_size=1, max_size=3))
        return "".join(p + draw(st.sampled_from(quantifiers)) for p in parts)

    branches = [sequence() for _ in range(draw(st.integers(1, 2)))]
    return "|".join(branches)


# ----------------------------------------------------------------------------- spec strategy

FOCUS_DTYPES: dict[str, tuple[DType, ...]] = {
    "float": (DType.FLOAT,),
    "numeric": (DType.FLOAT, DType.INT, DType.BOOL),
    "categorical": (DType.STRING, DType.INT, DType.FLOAT),
    "time": (DType.TIMESTAMP, DType.INT, DType.FLOAT),
    "mixed": tuple(DType),
}


@st.composite
def input_columns(
    draw: Draw, dtypes: Sequence[DType] = tuple(DType), max_columns: int = 5
) -> tuple[Column, ...]:
    count = draw(st.integers(1, max_columns))
    columns: list[Column] = []
    used: set[str] = set()
    for index in range(count):
        dtype = draw(st.sampled_from(list(dtypes)))
        nullable = draw(st.booleans())
        name = _column_name(draw, index, dtype, columns)
        if name in used or name in RESERVED:
            name = f"{dtype.value[:3]}{index}"
        used.add(name)
        columns.append(Column(name, dtype, nullable))
    return tuple(columns)


def _column_name(draw: Draw, index: int, dtype: DType, earlier: Sequence[Column]) -> str:
    style = draw(st.integers(0, 9))
    if style == 0:
        return str(draw(st.sampled_from(IDENTIFIER_EXTRAS)))
    masked = [c for c in earlier if c.nullable and c.dtype is not DType.FLOAT]
    if style == 1 and masked:
        return f"{masked[0].name}_is_null"  # next to the mask variable of a nullable column
    return f"{dtype.value[:3]}{index}"


@st.composite
def specs(
    draw: Draw,
    focus: str = "mixed",
    max_depth: int = 3,
    max_features: int = 4,
    weights: Mapping[str, float] | None = None,
) -> GeneratedSpec:
    columns = draw(input_columns(FOCUS_DTYPES[focus]))
    generator = SpecGenerator(draw, columns, weights or {})
    lines = [f"spec fuzz_{focus}", "", "input {"]
    separator = draw(st.sampled_from(["", ","]))
    lines += [f"  {c.declaration}{separator}" for c in columns]
    lines += ["}", ""]
    for index in range(draw(st.integers(0, 2))):
        lines.append(generator.let(index, draw(st.integers(0, max_depth))))
    for index in range(draw(st.integers(1, max_features))):
        lines.append(generator.feature(index, draw(st.integers(0, max_depth))))
    return GeneratedSpec("\n".join(lines) + "\n", columns, generator.pools)


# ----------------------------------------------------------------------------- data strategies

Feed = dict[str, np.ndarray]


def float_values(pools: Pools) -> list[float]:
    return edge.float_candidates(pools.as_edge_pool()) + list(EXTRA_FLOATS)


def int_values(pools: Pools) -> list[int]:
    return edge.int_candidates(pools.as_edge_pool())


def string_values(pools: Pools) -> list[str]:
    return edge.string_candidates(pools.as_edge_pool()) + list(EXTRA_STRINGS)


def timestamp_values(pools: Pools) -> list[int]:
    return list(edge.TIMESTAMP_SPECIALS) + list(LEAP_DAYS)


def element_strategy(
    column: Column, pools: Pools, seen: Sequence[Any] = ()
) -> st.SearchStrategy[Any]:
    """Values of one column: edge values, the spec's literals and neighbours, random ones, and
    values seen in training (fitted statistics sit on those)."""
    options: list[st.SearchStrategy[Any]]
    if column.dtype is DType.FLOAT:
        ties = st.integers(-4, 4).map(lambda k: k + 0.5)  # where round-half-even and half-up differ
        options = [
            st.sampled_from(float_values(pools)),
            ties,
            st.floats(allow_nan=False),
            st.floats(-10, 10),
        ]
        if column.nullable:
            options.append(st.just(math.nan))
    elif column.dtype is DType.INT:
        options = [
            st.sampled_from(int_values(pools)),
            st.integers(-20, 20),
            st.integers(INT64_MIN, INT64_MAX),
        ]
    elif column.dtype is DType.BOOL:
        options = [st.booleans()]
    elif column.dtype is DType.STRING:
        options = [st.sampled_from(string_values(pools)), _texts(max_size=6)]
    else:
        low, high = -62_135_596_800_000_000, 253_402_300_799_999_999  # years 1 to 9999
        options = [
            st.sampled_from(timestamp_values(pools)),
            st.integers(low, high),
            st.integers(-(2**40), 2**40),
        ]
    if seen:
        options.append(st.sampled_from(list(seen)))
    return st.one_of(options)


@st.composite
def feeds(
    draw: Draw,
    columns: Sequence[Column],
    pools: Pools,
    min_rows: int,
    max_rows: int,
    like: Feed | None = None,
) -> Feed:
    rows = draw(st.integers(min_rows, max_rows))
    feed: Feed = {}
    for column in columns:
        seen = _seen_values(like, column)
        values = draw(st.lists(element_strategy(column, pools, seen), min_size=rows, max_size=rows))
        feed[column.name] = to_array(column.dtype, values)
        if column.nullable and column.dtype is not DType.FLOAT:
            feed[mask_name(column.name)] = np.array(
                draw(st.lists(st.booleans(), min_size=rows, max_size=rows)), dtype=np.bool_
            )
    return feed


def _seen_values(like: Feed | None, column: Column) -> list[Any]:
    if like is None:
        return []
    values = like[column.name].tolist()
    if column.dtype is DType.FLOAT:
        values = [v for v in values if column.nullable or not math.isnan(v)]
    return values


def to_array(dtype: DType, values: Sequence[Any]) -> np.ndarray:
    if dtype is DType.FLOAT:
        return np.array(values, dtype=np.float64)
    if dtype in (DType.INT, DType.TIMESTAMP):
        return np.array(values, dtype=np.int64)
    if dtype is DType.BOOL:
        return np.array(values, dtype=np.bool_)
    array = np.empty(len(values), dtype=object)
    array[:] = list(values)
    return array


@dataclass(frozen=True)
class FuzzCase:
    spec: str
    columns: tuple[Column, ...]
    train: Feed
    test: Feed

    def describe(self) -> str:
        return f"spec:\n{self.spec}\ntrain feed:\n{_show_feed(self.train)}\ntest feed:\n{_show_feed(self.test)}"


def _show_feed(feed: Feed) -> str:
    return "\n".join(f"  {name} = {values.tolist()!r}" for name, values in feed.items())


@st.composite
def fuzz_cases(
    draw: Draw,
    focus: str = "mixed",
    max_depth: int = 3,
    max_features: int = 4,
    weights: Mapping[str, float] | None = None,
) -> FuzzCase:
    spec = draw(specs(focus, max_depth, max_features, weights))
    train = draw(feeds(spec.columns, spec.pools, 1, 24))
    test = draw(feeds(spec.columns, spec.pools, 1, 16, like=train))
    return FuzzCase(spec.text, spec.columns, train, test)


# ----------------------------------------------------------------------------- running a case


class GeneratorError(AssertionError):
    """The generator produced a spec the checker rejects: a bug in this module (or the checker)."""


class Unfittable(Exception):
    """The training feed has no value for some analyzer: not a parity question; skip the case."""


class ParityViolation(AssertionError):
    """numpy module and ONNX graph disagree beyond the documented bound."""

    def __init__(self, message: str, features: Sequence[Any] = ()):
        super().__init__(message)
        self.features = tuple(features)  # the IR features (ir.Feature) with violations


# Primitives after which a few ULP of difference stop being a few ULP: steps and jumps.
STEP_PRIMITIVES = frozenset(
    {"floor", "ceil", "round_even", "eq", "ne", "lt", "le", "gt", "ge", "isnan"}
    | {"bucketize", "to_int", "to_string", "int_floordiv", "int_mod", "lookup", "murmur3"}
)


def amplifies_inexact_error(node: Any) -> bool:
    """True when an inexact primitive (primitives.ULP_BOUND) feeds another inexact primitive or a
    step (floor(log(x)), exp(exp(x)), log(x) > 0): the per-op bound does not cover the result."""
    from featuredsl.compiler.ir import walk
    from featuredsl.compiler.primitives import ULP_BOUND

    tainted: set[int] = set()
    for n in walk([node]):
        fed = any(id(a) in tainted for a in n.args)
        if fed and (n.op in ULP_BOUND or n.op in STEP_PRIMITIVES):
            return True
        if fed or n.op in ULP_BOUND:
            tainted.add(id(n))
    return False


def run_case(case: FuzzCase) -> None:
    """Check, fit, build both artifacts, run them on the test feed and compare; raise on any problem.

    The graph runs with onnxruntime's graph optimizations disabled and all enabled
    (sessions.CHECKED_OPTIMIZATIONS); both must agree with the numpy module, as a whole batch and
    for the first row alone."""
    from featuredsl.artifact.spec import Spec
    from featuredsl.compiler.boundaries import feature_bounds
    from featuredsl.language.diagnostics import DiagnosticError
    from featuredsl.parity.compare import compare
    from featuredsl.parity.sessions import CHECKED_OPTIMIZATIONS

    try:
        spec = Spec(case.spec, "<fuzz>")
    except DiagnosticError as error:
        raise GeneratorError(f"a generated spec does not check:\n{error}\n{case.spec}") from None
    try:
        fitted = spec.fit(dict(case.train))
    except DiagnosticError as error:  # e.g. an analyzer saw no value: a clear error, not a crash
        raise Unfittable(str(error)) from None
    expected = fitted.transform_feed(dict(case.test))
    model = fitted.onnx_model()
    bounds = feature_bounds(fitted.program.features)
    names = fitted.feature_names
    first = {k: v[:1] for k, v in case.test.items()}
    for optimization in CHECKED_OPTIMIZATIONS:
        session = onnx_session(model, optimization)
        actual = run_session(session, case.test)
        comparison = compare(names, expected, actual, bounds)
        if not comparison.ok:
            text = _violation_text(comparison, names, expected, actual, case)
            raise ParityViolation(
                f"(onnxruntime optimization {optimization}) {text}",
                _violating(fitted.program.features, comparison),
            )
        if len(expected) < 2:
            continue
        # onnxruntime's kernels may change with the batch size: the first row alone must agree.
        single = run_session(session, first)
        comparison = compare(names, expected[:1], single, bounds)
        if not comparison.ok:
            single_case = FuzzCase(case.spec, case.columns, case.train, first)
            text = _violation_text(comparison, names, expected[:1], single, single_case)
            raise ParityViolation(
                f"(one-row batch, onnxruntime optimization {optimization}) {text}",
                _violating(fitted.program.features, comparison),
            )


def _violating(features: Sequence[Any], comparison: Any) -> list[Any]:
    bad = {c.name for c in comparison.columns if c.violations}
    return [f for f in features if bad & set(f.column_names or ())]


def onnx_session(model: Any, optimization: str = "all") -> Any:
    """A quiet, single-threaded onnxruntime session for a checked model."""
    from featuredsl.backends.onnx.graph import check_model
    from featuredsl.parity import sessions

    check_model(model)
    return sessions.onnx_session(model.SerializeToString(), optimization)


def run_session(session: Any, feed: Feed) -> np.ndarray:
    names = {i.name for i in session.get_inputs()}
    result: np.ndarray = session.run([OUTPUT], {k: v for k, v in feed.items() if k in names})[0]
    return result


def _violation_text(
    comparison: Any, names: Sequence[str], expected: np.ndarray, actual: np.ndarray, case: FuzzCase
) -> str:
    lines = ["numpy module and ONNX graph disagree:"]
    for index, column in enumerate(comparison.columns):
        for row in column.worst_rows[:3]:
            inputs = {
                k: v[row].item() if hasattr(v[row], "item") else v[row]
                for k, v in case.test.items()
            }
            lines.append(
                f"  {names[index]} row {row}: numpy {expected[row, index]!r} onnx {actual[row, index]!r} "
                f"(bound {column.bound} ULP) inputs {inputs}"
            )
    return "\n".join([*lines, case.describe()])


def case_fails(case: FuzzCase) -> bool:
    """True when a case shows a parity violation or a crash (for hypothesis.find)."""
    try:
        run_case(case)
    except Unfittable:
        return False
    except Exception:
        return True
    return False


# ----------------------------------------------------------------------------- regression files


def encode_feed(feed: Feed) -> dict[str, dict[str, Any]]:
    """JSON-safe and exact: floats as hex (NaN, +-inf and -0.0 survive)."""
    out: dict[str, dict[str, Any]] = {}
    for name, values in feed.items():
        kind = values.dtype.kind
        if kind == "f":
            out[name] = {"dtype": "float64", "values": [float(v).hex() for v in values.tolist()]}
        elif kind == "b":
            out[name] = {"dtype": "bool", "values": values.tolist()}
        elif kind in "iu":
            out[name] = {"dtype": "int64", "values": values.tolist()}
        else:
            out[name] = {"dtype": "str", "values": [str(v) for v in values.tolist()]}
    return out


def decode_feed(data: Mapping[str, Mapping[str, Any]]) -> Feed:
    feed: Feed = {}
    for name, column in data.items():
        values = column["values"]
        dtype = column["dtype"]
        if dtype == "float64":
            feed[name] = np.array([float.fromhex(v) for v in values], dtype=np.float64)
        elif dtype == "bool":
            feed[name] = np.array(values, dtype=np.bool_)
        elif dtype == "int64":
            feed[name] = np.array(values, dtype=np.int64)
        else:
            feed[name] = to_array(DType.STRING, values)
    return feed


def case_to_json(case: FuzzCase, error: str = "") -> dict[str, Any]:
    return {
        "spec": case.spec,
        "columns": [[c.name, c.dtype.value, c.nullable] for c in case.columns],
        "train": encode_feed(case.train),
        "test": encode_feed(case.test),
        "error": error,
    }


def case_from_json(data: Mapping[str, Any]) -> FuzzCase:
    columns = tuple(
        Column(name, DType(dtype), bool(nullable)) for name, dtype, nullable in data["columns"]
    )
    return FuzzCase(data["spec"], columns, decode_feed(data["train"]), decode_feed(data["test"]))


def save_regression(case: FuzzCase, directory: str | Path, error: BaseException | str = "") -> Path:
    """Write a failing case as <hash>.json (the hash covers spec and data, so reruns overwrite)."""
    message = str(error).splitlines()[0] if str(error) else ""
    payload = case_to_json(
        case, f"{type(error).__name__}: {message}" if isinstance(error, BaseException) else message
    )
    key = json.dumps(
        {k: payload[k] for k in ("spec", "train", "test")}, sort_keys=True, ensure_ascii=True
    )
    path = Path(directory) / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():  # keep notes added by hand (e.g. an xfail reason)
        payload = {**json.loads(path.read_text("utf-8")), **payload, "error": payload["error"]}
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def load_regression(path: str | Path) -> tuple[FuzzCase, dict[str, Any]]:
    data = json.loads(Path(path).read_text("utf-8"))
    return case_from_json(data), data


def is_final_example() -> bool:
    """True while hypothesis replays the shrunk failing example (so only that one is saved)."""
    try:
        from hypothesis.control import current_build_context

        return bool(current_build_context().is_final)
    except Exception:  # outside a hypothesis test, or an API change: save every failure
        return True
