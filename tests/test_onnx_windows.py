"""The ONNX window kernels (featuredsl.backends.onnx.windows) against the window contract.

A brute-force reference written from docs/windows.md in plain Python (ints and floats, no
numpy) computes every aggregate of random event streams; the ONNX graph built from the kernels
must give the same bits (-0.0 unlike 0.0, NaN's bits included) in this interpreter's
onnxruntime at every optimization level, and on every cached runtime of the matrix.
"""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from featuredsl.backends.onnx import graph
from featuredsl.backends.onnx.graph import GraphContext
from featuredsl.backends.onnx.windows import (
    window_bounds,
    window_count,
    window_first,
    window_last,
    window_max,
    window_min,
    window_nth_last,
    window_sum_int,
)
from featuredsl.compiler.types import DType
from featuredsl.parity import matrix
from featuredsl.parity.sessions import OPTIMIZATIONS, onnx_session

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# ----------------------------------------------------------------------------- the reference


@dataclass(frozen=True)
class Case:
    """One request of the serving encoding; every event has a value of each dtype."""

    offsets: tuple[int, ...]
    times: tuple[int, ...]
    row_times: tuple[int, ...]
    included: tuple[bool, ...]
    floats: tuple[float, ...]
    ints: tuple[int, ...]
    bools: tuple[bool, ...]
    strings: tuple[str, ...]

    @property
    def rows(self) -> int:
        return len(self.row_times)

    def feed(self) -> dict[str, np.ndarray]:
        return {
            "offsets": np.array(self.offsets, dtype=np.int64),
            "times": np.array(self.times, dtype=np.int64),
            "row_times": np.array(self.row_times, dtype=np.int64),
            "included": np.array(self.included, dtype=np.bool_),
            "floats": np.array(self.floats, dtype=np.float64),
            "ints": np.array(self.ints, dtype=np.int64),
            "bools": np.array(self.bools, dtype=np.bool_),
            "strings": np.array(self.strings, dtype=object),
        }


def concatenate(cases: Sequence[Case]) -> Case:
    """One request holding the rows of all cases (rows are independent)."""
    offsets = [0]
    fields: dict[str, list[Any]] = {
        k: [] for k in ("times", "row_times", "included", "floats", "ints", "bools", "strings")
    }
    for case in cases:
        offsets += [offsets[-1] + o for o in case.offsets[1:]]
        for name, column in fields.items():
            column.extend(getattr(case, name))
    return Case(tuple(offsets), **{k: tuple(v) for k, v in fields.items()})


def reference_window(case: Case, row: int, lag: int, length: int) -> tuple[int, int]:
    """[lo, hi) straight from the definition, with Python ints (no overflow)."""
    start, end = case.offsets[row], case.offsets[row + 1]
    since = case.row_times[row] - lag - length  # below INT64_MIN: every t is >= it
    until = case.row_times[row] - lag
    lo = next((j for j in range(start, end) if case.times[j] >= since), end)
    hi = next((j for j in range(start, end) if case.times[j] >= until), end)
    return lo, hi


def _order(x: float) -> tuple[float, float]:
    return (x, math.copysign(1.0, x))  # -0.0 below 0.0


def _signed(total: int) -> int:
    total %= 2**64
    return total - 2**64 if total >= 2**63 else total


MISSING = {"float": math.nan, "int": 0, "bool": False, "string": ""}
COLUMNS = {"float": "floats", "int": "ints", "bool": "bools", "string": "strings"}


def reference(case: Case, lag: int, length: int, n: int) -> dict[str, list[Any]]:
    """Every output of the test graph for `case`, computed from the contract."""
    out: dict[str, list[Any]] = {}

    def put(name: str, value: Any) -> None:
        out.setdefault(name, []).append(value)

    for row in range(case.rows):
        lo, hi = reference_window(case, row, lag, length)
        put("lo", lo)
        put("hi", hi)
        picked = [j for j in range(lo, hi) if case.included[j]]
        put("count", len(picked))
        put("sum_int", _signed(sum(case.ints[j] for j in picked)))
        for dtype in ("float", "int"):
            values = [getattr(case, COLUMNS[dtype])[j] for j in picked]
            key = _order if dtype == "float" else None
            for name, pick in (("min", min), ("max", max)):
                put(f"{name}_{dtype}", pick(values, key=key) if values else MISSING[dtype])
                put(f"{name}_{dtype}_missing", not values)
        for dtype, column in COLUMNS.items():
            values = [getattr(case, column)[j] for j in picked]
            for name, index in (("first", 0), ("last", -1), ("nth_last", -n)):
                present = len(values) >= abs(index) if index < 0 else bool(values)
                put(f"{name}_{dtype}", values[index] if present else MISSING[dtype])
                put(f"{name}_{dtype}_missing", not present)
    return out


# ----------------------------------------------------------------------------- the graph

ELEMENT = {
    "float": TensorProto.DOUBLE,
    "int": TensorProto.INT64,
    "bool": TensorProto.BOOL,
    "string": TensorProto.STRING,
}
DTYPES = {"float": DType.FLOAT, "int": DType.INT, "bool": DType.BOOL, "string": DType.STRING}
# The int64 column also stands for timestamps (int64 microseconds): these kernels get it as one.
AS_TIMESTAMP = {"max", "nth_last"}


def _dtype(kernel: str, dtype: str) -> DType:
    return DType.TIMESTAMP if dtype == "int" and kernel in AS_TIMESTAMP else DTYPES[dtype]


INPUTS = {
    "offsets": (TensorProto.INT64, "N1"),
    "times": (TensorProto.INT64, "E"),
    "row_times": (TensorProto.INT64, "N"),
    "included": (TensorProto.BOOL, "E"),
    "floats": (TensorProto.DOUBLE, "E"),
    "ints": (TensorProto.INT64, "E"),
    "bools": (TensorProto.BOOL, "E"),
    "strings": (TensorProto.STRING, "E"),
}


def build_model(windows: Sequence[Window], packed: bool = False) -> onnx.ModelProto:
    """The test graph: every kernel on one event source, for each window; the outputs of window
    w are called "w{w}.{name}".

    packed: the runtime matrix's clients take inputs of one length, so every input is padded
    to one length M and `sizes` (int64[M], sizes[0] = N, sizes[1] = E) says what to keep."""
    ctx = GraphContext(reserved=frozenset(INPUTS) | {"sizes"})
    inputs = []
    if packed:
        inputs.append(helper.make_tensor_value_info("sizes", TensorProto.INT64, ["M"]))
        n_rows = ctx.add("Slice", ["sizes", ctx.int64s(0), ctx.int64s(1)], hint="rows")
        n_events = ctx.add("Slice", ["sizes", ctx.int64s(1), ctx.int64s(2)], hint="events")
        ends = {"N1": ctx.add("Add", [n_rows, ctx.int64s(1)]), "N": n_rows, "E": n_events}
    for name, (element, size) in INPUTS.items():
        if packed:
            inputs.append(helper.make_tensor_value_info(f"packed_{name}", element, ["M"]))
            ctx.nodes.append(
                helper.make_node(
                    "Slice", [f"packed_{name}", ctx.int64s(0), ends[size]], [name], name=name
                )
            )
        else:
            inputs.append(helper.make_tensor_value_info(name, element, [size]))
    results: dict[str, str] = {}
    for index, (lag, length, n) in enumerate(windows):
        ctx.prefix = f"w{index}."
        lo, hi = window_bounds(ctx, "offsets", "times", "row_times", length, lag)
        found = {"lo": lo, "hi": hi}
        found["count"] = window_count(ctx, "included", lo, hi)
        found["sum_int"] = window_sum_int(ctx, "ints", "included", lo, hi)
        for dtype in ("float", "int"):
            for name, kernel in (("min", window_min), ("max", window_max)):
                value, missing = kernel(
                    ctx, COLUMNS[dtype], "included", lo, hi, _dtype(name, dtype)
                )
                found[f"{name}_{dtype}"], found[f"{name}_{dtype}_missing"] = value, missing
        for dtype, column in COLUMNS.items():
            for name, kernel in (("first", window_first), ("last", window_last)):
                value, missing = kernel(ctx, column, "included", lo, hi, _dtype(name, dtype))
                found[f"{name}_{dtype}"], found[f"{name}_{dtype}_missing"] = value, missing
            value, missing = window_nth_last(
                ctx, column, "included", lo, hi, n, _dtype("nth_last", dtype)
            )
            found[f"nth_last_{dtype}"], found[f"nth_last_{dtype}_missing"] = value, missing
        results.update({f"w{index}.{name}": value for name, value in found.items()})
    outputs = []
    for name, value in results.items():
        ctx.nodes.append(helper.make_node("Identity", [value], [name], name=f"out_{name}"))
        element = TensorProto.BOOL if name.endswith("missing") else TensorProto.INT64
        for dtype in ELEMENT:
            if name.endswith(f"_{dtype}"):
                element = ELEMENT[dtype]
        outputs.append(helper.make_tensor_value_info(name, element, ["N"]))
    initializers = [numpy_helper.from_array(array, name) for name, array in ctx.initializers]
    model = helper.make_model(
        helper.make_graph(ctx.nodes, "windows", inputs, outputs, initializers),
        opset_imports=graph._opsets(functions=False),
        ir_version=graph.IR_VERSION,
    )
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    return model


def packed_feed(case: Case) -> dict[str, np.ndarray]:
    feed = case.feed()
    size = max(len(case.offsets), len(case.times), 2)
    out = {"sizes": np.zeros(size, dtype=np.int64)}
    out["sizes"][:2] = [case.rows, len(case.times)]
    fill = {np.dtype(np.int64): 0, np.dtype(np.float64): 0.0, np.dtype(np.bool_): False}
    for name, values in feed.items():
        padded = np.full(size, fill.get(values.dtype, ""), dtype=values.dtype)
        padded[: len(values)] = values
        out[f"packed_{name}"] = padded
    return out


@cache
def session(optimization: str) -> Any:
    return onnx_session(build_model(WINDOWS).SerializeToString(), optimization)


# ----------------------------------------------------------------------------- comparing


def _bits(value: float) -> str:
    return struct.pack("<d", value).hex()


def differences(case: Case, outputs: dict[str, np.ndarray]) -> list[str]:
    """Every output cell of the graph of WINDOWS that differs from the reference, bit for bit."""
    expected = {
        f"w{index}.{name}": values
        for index, window in enumerate(WINDOWS)
        for name, values in reference(case, *window).items()
    }
    found = []
    for name in expected:
        got = outputs[name].tolist()
        want = expected[name]
        if len(got) != len(want):
            found.append(f"{name}: {len(got)} rows, expected {len(want)}")
            continue
        for row, (g, w) in enumerate(zip(got, want, strict=True)):
            if isinstance(w, float):
                same = _bits(float(g)) == _bits(w)
            else:
                same = type(g) is type(w) and g == w
            if not same:
                found.append(f"{name}[{row}]: got {g!r}, expected {w!r}")
    return found


# ----------------------------------------------------------------------------- the cases

Window = tuple[int, int, int]  # (lag, length, n), microseconds

WINDOWS: tuple[Window, ...] = (
    (0, 1, 1),
    (5, 10, 2),
    (0, 2**62 - 1, 3),
    (2**61, 2**61 - 1, 1),
    (7, 2**40, 2),
)
FLOATS = (
    0.0,
    -0.0,
    1.5,
    -1.5,
    math.inf,
    -math.inf,
    5e-324,
    -5e-324,
    1.7976931348623157e308,
    -1.7976931348623157e308,
    2.0**53 + 2,
    0.1,
    -2.5e-300,
)
INTS = (
    0,
    1,
    -1,
    2**31 - 1,
    2**31,
    2**31 + 1,
    -(2**31),
    -(2**31) - 1,
    2**53,
    2**53 + 1,
    -(2**53) - 1,
    INT64_MIN,
    INT64_MAX,
    INT64_MIN + 1,
    INT64_MAX - 1,
    2**62 + 12345,
)
STRINGS = ("", "a", "A", "é", "Ünïcode", "日本", "a b", "\U0001f600", "x" * 40)
ROW_TIMES = (0, 10**15, INT64_MIN, INT64_MAX, INT64_MIN + 3, 2**62, -(2**62), 2**53 + 1)


def _clamp(value: int) -> int:
    return min(max(value, INT64_MIN), INT64_MAX)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """Rows whose event times cluster at the edges of one of WINDOWS (the graph computes all)."""
    lag, length, _ = draw(st.sampled_from(WINDOWS))
    ints = st.one_of(st.sampled_from(INTS), st.integers(INT64_MIN, INT64_MAX))
    floats = st.one_of(st.sampled_from(FLOATS), st.floats(allow_nan=False))
    strings = st.one_of(
        st.sampled_from(STRINGS),
        st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=4),
    )
    offsets, times, row_times = [0], [], []
    included, values_f, values_i, values_b, values_s = [], [], [], [], []
    for _ in range(draw(st.integers(0, 5))):
        t = draw(st.one_of(st.sampled_from(ROW_TIMES), st.integers(INT64_MIN, INT64_MAX)))
        row_times.append(t)
        edges = (t - lag - length, t - lag)
        event_time = st.one_of(
            st.builds(lambda e, d: _clamp(e + d), st.sampled_from(edges), st.integers(-2, 2)),
            st.sampled_from((INT64_MIN, INT64_MAX, t)),
            st.integers(_clamp(edges[0] - 3 * length), _clamp(edges[1] + length)),
        )
        inside = st.integers(_clamp(edges[0] - 1), _clamp(edges[1]))  # a long row's events
        events = sorted(
            draw(
                st.one_of(
                    st.lists(event_time, max_size=7),
                    st.lists(st.one_of(inside, event_time), min_size=8, max_size=40),
                )
            )
        )
        times += events
        offsets.append(offsets[-1] + len(events))
        for _ in events:
            value = draw(st.one_of(floats, st.just(math.nan)))
            values_f.append(value)
            included.append(draw(st.booleans()) and not math.isnan(value))
            values_i.append(draw(ints))
            values_b.append(draw(st.booleans()))
            values_s.append(draw(strings))
    return Case(
        tuple(offsets),
        tuple(times),
        tuple(row_times),
        tuple(included),
        tuple(values_f),
        tuple(values_i),
        tuple(values_b),
        tuple(values_s),
    )


def random_cases(seed: int, count: int) -> list[Case]:
    """Deterministic cases for the runtime matrix (outside Hypothesis), drawn much the same way."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        lag, length, _ = rng.choice(WINDOWS)
        offsets, times, row_times = [0], [], []
        cols: dict[str, list[Any]] = {c: [] for c in ("inc", "f", "i", "b", "s")}
        for _ in range(rng.randrange(0, 4)):
            t = rng.choice((*ROW_TIMES, rng.randrange(INT64_MIN, INT64_MAX)))
            row_times.append(t)
            edges = (t - lag - length, t - lag)
            if rng.random() < 0.3:  # a long row, mostly inside the window
                low, high = _clamp(edges[0] - 1), _clamp(edges[1])
                events = sorted(rng.randint(low, high) for _ in range(rng.randrange(8, 70)))
            else:
                events = sorted(
                    _clamp(rng.choice(edges) + rng.randrange(-2, 3))
                    if rng.random() < 0.7
                    else rng.choice((INT64_MIN, INT64_MAX, t))
                    for _ in range(rng.randrange(0, 8))
                )
            times += events
            offsets.append(offsets[-1] + len(events))
            for _ in events:
                value = rng.choice((*FLOATS, math.nan, rng.uniform(-1e6, 1e6)))
                cols["f"].append(value)
                cols["inc"].append(rng.random() < 0.7 and not math.isnan(value))
                cols["i"].append(rng.choice((*INTS, rng.randrange(INT64_MIN, INT64_MAX))))
                cols["b"].append(rng.random() < 0.5)
                cols["s"].append(rng.choice(STRINGS))
        out.append(
            Case(
                tuple(offsets),
                tuple(times),
                tuple(row_times),
                tuple(cols["inc"]),
                tuple(cols["f"]),
                tuple(cols["i"]),
                tuple(cols["b"]),
                tuple(cols["s"]),
            )
        )
    return out


EMPTY = Case((0,), (), (), (), (), (), (), ())
NO_EVENTS = Case((0, 0, 0), (), (5, INT64_MIN), (), (), (), (), ())


def run_here(case: Case, optimization: str) -> list[str]:
    s = session(optimization)
    names = [o.name for o in s.get_outputs()]
    return differences(case, dict(zip(names, s.run(None, case.feed()), strict=True)))


# ----------------------------------------------------------------------------- tests


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_kernels_equal_the_contract(case: Case) -> None:
    for optimization in ("disabled", "all"):
        assert run_here(case, optimization) == []


@pytest.mark.parametrize("optimization", OPTIMIZATIONS)
def test_edge_requests(optimization: str) -> None:
    """No rows (N = 0, E = 0), rows without events, one big batch, and rows alone."""
    batch = random_cases(0, 200)
    for case in (EMPTY, NO_EVENTS, concatenate(batch), *batch[:20]):
        assert run_here(case, optimization) == []


def test_zero_signs_and_ties() -> None:
    """min of {0.0, -0.0} is -0.0 and max is 0.0 in either order; ties keep request order."""
    pairs = [
        (0.0, -0.0),
        (-0.0, 0.0),
        (0.0, 0.0),
        (-0.0, -0.0),
        (-0.0, 1.0),
        (0.0, -1.0),
        (math.inf, -math.inf),
    ]
    batch = concatenate(
        [
            Case(
                (0, 2),
                (5, 5),
                (10,),
                (True, True),
                pair,
                (INT64_MAX, INT64_MIN),
                (True, False),
                ("b", "a"),
            )
            for pair in pairs
        ]
    )
    assert run_here(batch, "all") == []
    out = reference(batch, 0, 10, 1)
    assert [_bits(v) for v in out["min_float"][:2]] == [_bits(-0.0)] * 2
    assert [_bits(v) for v in out["max_float"][:2]] == [_bits(0.0)] * 2
    assert out["first_string"][0] == "b" and out["last_string"][0] == "a"


def test_bad_arguments_are_refused() -> None:
    ctx = GraphContext()
    with pytest.raises(ValueError, match="length"):
        window_bounds(ctx, "o", "t", "r", 0, 0)
    with pytest.raises(ValueError, match="2\\*\\*62"):
        window_bounds(ctx, "o", "t", "r", 2**61, 2**61)
    with pytest.raises(ValueError, match="n must be"):
        window_nth_last(ctx, "v", "i", "l", "h", 0, DType.INT)
    with pytest.raises(ValueError, match="not supported"):
        window_min(ctx, "v", "i", "l", "h", DType.STRING)


def _installed(runtime_id: str) -> bool:
    kind, version = matrix.parse_runtime(runtime_id)
    return (matrix.cache_dir() / f"{kind}-ort-{version}" / ".ready").exists()


@pytest.mark.slow
@pytest.mark.parametrize("runtime_id", matrix.MATRIX)
def test_kernels_on_every_runtime(runtime_id: str, tmp_path: Path) -> None:
    """The same cases in every runtime of the matrix that is installed in the runtime cache
    ($FEATUREDSL_RUNTIME_CACHE), at every optimization level: one batch of many rows, one of a
    few rows, a one-row request (short inputs take other kernel paths), no rows, no events;
    the big batch also with two threads."""
    if not _installed(runtime_id):
        pytest.skip(f"{runtime_id} is not installed in {matrix.cache_dir()}")
    runtime = matrix.ensure_runtime(runtime_id)
    path = tmp_path / "windows.onnx"
    path.write_bytes(build_model(WINDOWS, packed=True).SerializeToString())
    batch = random_cases(1, 300)
    requests = [concatenate(batch), concatenate(batch[:5]), batch[0], EMPTY, NO_EVENTS]
    runs = [(o, 1, case) for o in OPTIMIZATIONS for case in requests]
    runs.append(("all", 2, requests[0]))
    for optimization, threads, case in runs:
        outputs = runtime.run(path, packed_feed(case), optimization=optimization, threads=threads)
        found = differences(case, outputs)
        assert found == [], f"{runtime_id}, {optimization}, {threads} threads: {found[:5]}"
