"""Every primitive of the ONNX backend's dispatch table on its edge cases, for the runtime matrix.

A probe is one primitive applied to input columns (and, where the backend emits a different
sequence for a constant operand, to a constant): `int_floordiv` by a row and by a positive
literal, `minimum` of two rows and of a row and 0.0, `where` of each dtype, and so on. Its rows
are every combination of the edge-case values (featuredsl.artifact.conformance.edge_cases) of
its operands. `combined(probes)` puts them side by side in one graph whose outputs keep each primitive's own
dtype (int64 beyond 2**53, -0.0, strings), so one run per runtime and optimization level
checks them all; `differences` compares the bits (docs/parity.md: NaN equals NaN, nothing else
is forgiven; `pow` within its ULP bound).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from featuredsl.artifact.conformance import edge_cases
from featuredsl.backends.numpy.evaluate import evaluate
from featuredsl.backends.onnx import graph as onnx_backend
from featuredsl.compiler.ir import Builder, InputColumn, Node, Program
from featuredsl.compiler.libm import ROUTINES
from featuredsl.compiler.primitives import ULP_BOUND
from featuredsl.compiler.types import DType, Shape, Type
from featuredsl.parity.compare import ulp_distance

FLOAT, INT, BOOL, STRING, TIMESTAMP = (
    DType.FLOAT,
    DType.INT,
    DType.BOOL,
    DType.STRING,
    DType.TIMESTAMP,
)

# The edge-case generator's specials, plus the values the runtime matrix found wrong somewhere
# (int64 beyond +-2**31 and 2**53, the x of `(1 / x) * 3.0`, sigmoid's -7.0). Strings stay short:
# every probe row travels to each runtime.
VALUES: dict[DType, tuple[Any, ...]] = {
    FLOAT: (
        *edge_cases.FLOAT_SPECIALS,
        math.nan,
        5.0,
        -7.0,
        1 / 3,
        2.0**31,
        -(2.0**31) - 1,
        4503599627370495.5,
    ),
    INT: (
        *edge_cases.INT_SPECIALS,
        2**31 - 1,
        2**32 - 1,
        12_000_000_000,
        -12_000_000_000,
        2**53,
        -(2**53) - 1,
        2**62,
        -(2**62),
        2**63 - 2,
        253_402_300_799_999_999,
    ),
    STRING: (
        *(s for s in edge_cases.STRING_SPECIALS if len(s) < 100),
        "x" * 120,
        "ab",
        "ǅ",
    ),
    BOOL: (False, True),
    TIMESTAMP: edge_cases.TIMESTAMP_SPECIALS,
}
NUMPY_DTYPE = {
    FLOAT: np.float64,
    INT: np.int64,
    BOOL: np.bool_,
    STRING: object,
    TIMESTAMP: np.int64,
}


@dataclass(frozen=True)
class Probe:
    """`op` applied to `operands`: a dtype is an input column, a (dtype, value) pair a constant,
    ("list", dtype, values) a constant vector."""

    name: str
    op: str
    operands: tuple[Any, ...]
    dtype: DType
    attrs: Mapping[str, Any] = field(default_factory=dict)
    width: int = 1
    values: Mapping[int, tuple[Any, ...]] = field(default_factory=dict)  # per-operand override


def _probes() -> list[Probe]:
    probes: list[Probe] = []
    for op in ("add", "sub", "mul"):
        probes += [Probe(f"{op}_float", op, (FLOAT, FLOAT), FLOAT)]
        probes += [Probe(f"{op}_int", op, (INT, INT), INT)]
    probes += [
        Probe("div_float", "div", (FLOAT, FLOAT), FLOAT),
        Probe("div_one_by_float", "div", ((FLOAT, 1.0), FLOAT), FLOAT),
        Probe("pow_float", "pow", (FLOAT, FLOAT), FLOAT),
        Probe("fmod_float", "fmod", (FLOAT, FLOAT), FLOAT),
        Probe("fmod_float_by_10", "fmod", (FLOAT, (FLOAT, 10.0)), FLOAT),
    ]
    for op in ("neg", "abs"):
        probes += [Probe(f"{op}_float", op, (FLOAT,), FLOAT), Probe(f"{op}_int", op, (INT,), INT)]
    for op in ("floor", "ceil", "round_even", "sqrt"):
        probes.append(Probe(f"{op}_float", op, (FLOAT,), FLOAT))
    probes.append(Probe("isnan_float", "isnan", (FLOAT,), BOOL))
    for op in ("minimum", "maximum"):
        probes += [
            Probe(f"{op}_float", op, (FLOAT, FLOAT), FLOAT),
            Probe(f"{op}_int", op, (INT, INT), INT),
            Probe(f"{op}_float_zero", op, (FLOAT, (FLOAT, 0.0)), FLOAT),
            Probe(f"{op}_float_minus_zero", op, (FLOAT, (FLOAT, -0.0)), FLOAT),
            Probe(f"{op}_int_1e10", op, (INT, (INT, 10_000_000_000)), INT),
        ]
    for op in ("int_floordiv", "int_mod"):
        probes.append(Probe(f"{op}_int", op, (INT, INT), INT))
        for divisor in (7, 86_400_000_000, 2**32, 2**63 - 1):
            probes.append(Probe(f"{op}_int_by_{divisor}", op, (INT, (INT, divisor)), INT))
    for op in ("eq", "ne", "lt", "le", "gt", "ge"):
        probes += [Probe(f"{op}_float", op, (FLOAT, FLOAT), BOOL)]
        probes += [Probe(f"{op}_int", op, (INT, INT), BOOL)]
    probes += [Probe(f"{op}_string", op, (STRING, STRING), BOOL) for op in ("eq", "ne")]
    probes += [Probe(f"{op}_bool", op, (BOOL, BOOL), BOOL) for op in ("and", "or", "eq")]
    probes.append(Probe("not_bool", "not", (BOOL,), BOOL))
    for dtype in (FLOAT, INT, BOOL, STRING):
        probes.append(Probe(f"where_{dtype.value}", "where", (BOOL, dtype, dtype), dtype))
    probes.append(Probe("where_float_minus_zero", "where", (BOOL, (FLOAT, -0.0), FLOAT), FLOAT))
    finite = tuple(v for v in VALUES[FLOAT] if math.isfinite(v) and -(2.0**63) <= v < 2.0**63)
    probes += [
        Probe("to_float_int", "to_float", (INT,), FLOAT),
        Probe("to_float_bool", "to_float", (BOOL,), FLOAT),
        Probe("to_int_float", "to_int", (FLOAT,), INT, values={0: finite}),
        Probe("to_int_bool", "to_int", (BOOL,), INT),
        Probe("to_int_timestamp", "to_int", (TIMESTAMP,), INT),
        Probe("to_string_int", "to_string", (INT,), STRING),
        Probe("broadcast_minus_zero", "broadcast", ((FLOAT, -0.0), FLOAT), FLOAT),
    ]
    for op in ("lower_ascii", "upper_ascii", "strip_spaces"):
        probes.append(Probe(op, op, (STRING,), STRING))
    probes += [
        Probe("strip_spaces_empty", "strip_spaces", (STRING,), STRING, values={0: ("", " ")}),
        Probe("concat", "concat", (STRING, STRING), STRING),
        Probe("starts_with", "starts_with", (STRING,), BOOL, {"text": "e"}),
        Probe("ends_with", "ends_with", (STRING,), BOOL, {"text": "e"}),
        Probe("contains", "contains", (STRING,), BOOL, {"text": "ß"}),
        Probe("matches", "matches", (STRING,), BOOL, {"pattern": "[a-z]+( [a-z]+)*"}),
        Probe("murmur3", "murmur3", (STRING,), INT),
        Probe("lookup_string", "lookup", (STRING, ("list", STRING, ("UPPER", "", "Straße"))), INT),
        Probe("lookup_int", "lookup", (INT, ("list", INT, (0, 2**53 + 1, -(2**63)))), INT),
        Probe("bucketize", "bucketize", (FLOAT, ("list", FLOAT, (-1.0, -0.0, 0.5, 2.0**53))), INT),
        Probe(
            "gather",
            "gather",
            (INT, ("list", INT, (-(2**63), -3_600_000_000, 2**53 + 1, 2**62))),
            INT,
            values={0: (0, 1, 2, 3)},  # a zone table index is always in range
        ),
        Probe("one_hot", "one_hot", (INT, ("list", STRING, ("a", "b", "c"))), FLOAT, width=4),
    ]
    for routine in ROUTINES:  # each a model-local function of the graph
        probes.append(Probe(f"call_{routine}", "call", (FLOAT,), FLOAT, {"routine": routine}))
    return probes


PROBES: tuple[Probe, ...] = tuple(_probes())


@dataclass(frozen=True)
class ProbeCase:
    probe: Probe
    inputs: tuple[InputColumn, ...]
    node: Node
    feed: dict[str, np.ndarray]


def build(probe: Probe, builder: Builder | None = None, prefix: str = "") -> ProbeCase:
    """The probe's IR node and a feed with every combination of its operands' values; input
    columns are named `<prefix>a0`, `<prefix>a1`, ..."""
    b = builder or Builder()
    args: list[Node] = []
    inputs: list[InputColumn] = []
    value_sets: list[tuple[Any, ...]] = []
    for index, operand in enumerate(probe.operands):
        if isinstance(operand, DType):
            name = f"{prefix}a{index}"
            # Floats are nullable (NaN is their null) so that NaN is a legal input value.
            inputs.append(InputColumn(name, operand, operand is FLOAT))
            args.append(
                b.node("input", (), Type(operand, Shape.ROW), {"name": name, "role": "value"})
            )
            value_sets.append(probe.values.get(index, VALUES[operand]))
        elif operand[0] == "list":
            args.append(b.list_const(operand[1], operand[2]))
        else:
            args.append(b.const(operand[0], operand[1]))
    node = b.node(probe.op, args, Type(probe.dtype, Shape.ROW, probe.width), dict(probe.attrs))
    rows = list(itertools.product(*value_sets))
    feed: dict[str, np.ndarray] = {
        column.name: np.array([row[i] for row in rows], dtype=NUMPY_DTYPE[column.dtype])
        for i, column in enumerate(inputs)
    }
    return ProbeCase(probe, tuple(inputs), node, feed)


@dataclass(frozen=True)
class Combined:
    """Probes side by side: one model, one feed of `rows` rows, outputs value0, value1, ..."""

    cases: tuple[ProbeCase, ...]
    model: onnx.ModelProto
    feed: dict[str, np.ndarray]
    expected: tuple[np.ndarray, ...]  # the numpy module's values, per probe

    @property
    def rows(self) -> int:
        return len(next(iter(self.feed.values())))


def combined(probes: Sequence[Probe] = PROBES, rows: int | None = None) -> Combined:
    """All probes in one graph. Each probe's rows are repeated cyclically up to `rows` (default:
    the largest probe's count), so every probe sees all its combinations."""
    builder = Builder()
    cases = tuple(build(p, builder, prefix=f"{p.name}__") for p in probes)
    length = rows or max(len(next(iter(c.feed.values()))) for c in cases)
    feed = {k: np.resize(v, length) for c in cases for k, v in c.feed.items()}
    inputs = tuple(column for c in cases for column in c.inputs)
    nodes = [c.node for c in cases]
    model = onnx_backend.build_values_model(inputs, nodes)
    onnx_backend.check_model(model)
    values = evaluate(Program("probes", inputs, (), ""), nodes, feed)
    return Combined(cases, model, feed, tuple(np.asarray(values[n]) for n in nodes))


@dataclass(frozen=True)
class Difference:
    probe: str
    rows: int  # how many rows differ
    inputs: dict[str, Any]  # of the first differing row
    numpy_value: Any
    runtime_value: Any

    def format(self) -> str:
        return (
            f"{self.probe}: {self.rows} rows differ, e.g. inputs {self.inputs}: numpy "
            f"{self.numpy_value!r}, runtime {self.runtime_value!r}"
        )


def differences(
    combination: Combined, outputs: Mapping[str, np.ndarray], rows: np.ndarray | None = None
) -> list[Difference]:
    """Probes whose runtime outputs differ from the numpy values. `outputs` hold all rows, or
    only the rows at the indices `rows`, in that order."""
    chosen = np.arange(combination.rows) if rows is None else np.asarray(rows)
    found = []
    for index, case in enumerate(combination.cases):
        expected = combination.expected[index][chosen]
        actual = np.asarray(outputs[f"value{index}"])
        differs = _differs(case.probe, expected, actual)
        if differs.any():
            row = int(chosen[np.flatnonzero(differs)[0]])
            first = int(np.flatnonzero(differs)[0])
            inputs = {
                k.removeprefix(f"{case.probe.name}__"): _plain(combination.feed[k][row])
                for k in case.feed
            }
            found.append(
                Difference(
                    case.probe.name,
                    int(differs.sum()),
                    inputs,
                    _plain(expected[first]),
                    _plain(actual[first]),
                )
            )
    return found


def _differs(probe: Probe, expected: np.ndarray, actual: np.ndarray) -> np.ndarray:
    if expected.shape != actual.shape:
        raise ValueError(f"{probe.name}: shape {actual.shape}, expected {expected.shape}")
    if expected.dtype == object or actual.dtype == object:
        return np.array([a != b for a, b in zip(expected.tolist(), actual.tolist(), strict=True)])
    if expected.dtype.kind == "f":
        distance = ulp_distance(expected, actual.astype(np.float64))
        bad: np.ndarray = (distance > ULP_BOUND.get(probe.op, 0)).reshape(len(expected), -1)
        return np.asarray(bad.any(axis=1))
    if expected.dtype != actual.dtype:
        return np.ones(len(expected), dtype=bool)
    same: np.ndarray = np.asarray(expected == actual).reshape(len(expected), -1)
    return np.asarray(~same.all(axis=1))


def _plain(value: Any) -> Any:
    item = value.item() if hasattr(value, "item") and np.ndim(value) == 0 else value
    if isinstance(item, np.ndarray):
        return item.tolist()
    return item
