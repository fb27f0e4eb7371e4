"""Exact range sums (window_sum / window_mean): numpy against math.fsum and an independent
integer reference, ONNX against numpy bit for bit, on adversarial data and on every cached
runtime of the matrix."""

from __future__ import annotations

import ast
import math
import sys
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from featuredsl.backends.numpy import exact_sum as numpy_exact_sum
from featuredsl.backends.numpy.exact_sum import exact_sums
from featuredsl.backends.onnx.exact_sum import exact_sums as onnx_exact_sums
from featuredsl.backends.onnx.graph import IR_VERSION, OPSET, GraphContext, _used_initializers
from featuredsl.parity import matrix
from featuredsl.parity.sessions import CHECKED_OPTIMIZATIONS, OPTIMIZATIONS, onnx_session

MAX = sys.float_info.max
TINY = 5e-324  # the smallest subnormal, 2**-1074
ULP_MAX = 2.0**971  # the ulp of DBL_MAX

# Each case: values whose exact sum a careless implementation gets wrong.
ADVERSARIAL: dict[str, list[float]] = {
    "cancellation": [1e308, -1e308, 1e-308],
    "cancellation_reordered": [1e-308, 1e308, -1e308],
    "overflow_then_back": [1e308, 1e308, -1e308],  # math.fsum raises; the exact sum is 1e308
    "large_small_large": [1e16, 1.0, -1e16],
    "tenths": [0.1] * 10,
    "tie_to_even_down": [1.0, 2.0**-53],
    "tie_to_even_up": [1.0 + 2.0**-52, 2.0**-53],
    "tie_broken_by_sticky": [1.0, 2.0**-53, TINY],
    "tie_broken_below": [1.0, 2.0**-53, -TINY],
    "sticky_across_limbs": [2.0**60, 2.0**7, 2.0**-900],
    # 2**45 fills its top 32-bit limb; the tie bit sits one limb below, the only sticky bit
    # exactly three limbs below the top one.
    "sticky_three_limbs_below": [2.0**45, 2.0**-8, 2.0**-77],
    "sticky_three_limbs_below_negative": [-(2.0**45), -(2.0**-8), -(2.0**-77)],
    "sticky_two_limbs_below": [2.0**45, 2.0**-8, 2.0**-45],
    "negative_tie": [-1.0, -(2.0**-53)],
    "negative_sticky": [-1.0, -(2.0**-53), -(2.0**-1000)],
    "borrow_chain": [2.0**600, -(2.0**-600)],
    "borrow_chain_negative": [-(2.0**600), 2.0**-600],
    "subnormals": [TINY] * 7,
    "subnormal_cancel": [TINY, -TINY],
    "largest_subnormal": [2.0**-1022, -TINY],
    "subnormal_to_normal": [2.0**-1022 - TINY, TINY],
    "whole_range": [MAX, TINY, -MAX, 2.0**-1022, 1.0],
    "overflow": [MAX, MAX],
    "overflow_negative": [-MAX, -MAX],
    "overflow_at_half_ulp": [MAX, ULP_MAX / 2],
    "below_half_ulp": [MAX, ULP_MAX / 2 * (1 - 2.0**-53)],
    "max_minus": [MAX, MAX, -MAX],
    "negative_zeros": [-0.0, -0.0],
    "zero_from_cancellation": [1.5, -1.5],
    "negative_zero_and_tiny": [-0.0, -TINY],
    "plus_inf": [math.inf, 1.0, -1e308],
    "minus_inf": [-math.inf, 1e308, 1e308],
    "both_infs": [math.inf, -math.inf],
    "two_plus_infs": [math.inf, math.inf, 2.0],
    "mixed_signs_many_limbs": [3.0 * 2.0**900, -(2.0**-1070), 7.0, -(2.0**500), 2.0**500],
    "empty": [],
}


def exact_reference(values: Sequence[float]) -> float:
    """The contract computed with Python integers on the 2**-1074 grid (independent of the
    implementation under test): round once, ties to even, +-inf at 2**1024 and above."""
    has_plus = any(v == math.inf for v in values)
    has_minus = any(v == -math.inf for v in values)
    if has_plus and has_minus:
        return math.nan
    if has_plus or has_minus:
        return math.inf if has_plus else -math.inf
    total = sum(int(Fraction(v) * 2**1074) for v in values)
    magnitude = abs(total)
    shift = max(magnitude.bit_length() - 53, 0)
    mantissa, rest = magnitude >> shift, magnitude & ((1 << shift) - 1)
    half = 1 << shift >> 1
    if shift and (rest > half or (rest == half and mantissa & 1)):
        mantissa += 1
    sign = -1.0 if total < 0 else 1.0
    if mantissa.bit_length() + shift - 1074 > 1024:
        return sign * math.inf
    return sign * math.ldexp(mantissa, shift - 1074) if total else 0.0


def fsum_reference(values: Sequence[float]) -> float | None:
    """math.fsum with the contract's exceptions; None where math.fsum raises (overflow)."""
    has_plus = any(v == math.inf for v in values)
    has_minus = any(v == -math.inf for v in values)
    if has_plus or has_minus:
        return exact_reference(values)
    try:
        return math.fsum(values) + 0.0  # + 0.0: a zero sum is +0.0
    except OverflowError:
        return None


def _bits(values: np.ndarray) -> np.ndarray:
    """IEEE bits, every NaN as one pattern."""
    array = np.asarray(values, dtype=np.float64)
    return np.where(np.isnan(array), np.uint64(0x7FF8000000000000), array.view(np.uint64))


def _expected(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.array(
        [exact_reference(values[a:b].tolist()) for a, b in zip(lo, hi, strict=True)],
        dtype=np.float64,
    )


def _concatenated(cases: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All cases in one event array, one range per case."""
    values = np.array([v for case in cases for v in case], dtype=np.float64)
    sizes = np.array([len(case) for case in cases], dtype=np.int64)
    hi = np.cumsum(sizes)
    return values, hi - sizes, hi


def _random_data(seed: int, events: int, ranges: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    kind = seed % 4
    if kind == 0:  # every exponent, every mantissa
        values = np.ldexp(
            rng.integers(-(2**53), 2**53, events).astype(np.float64),
            rng.integers(-1126, 971, events),
        )
    elif kind == 1:  # values that cancel and tie
        values = rng.choice(
            [1.0, -1.0, 2.0**-53, -(2.0**-53), 2.0**-106, 1e308, -1e308, TINY, MAX, -0.0],
            events,
        )
    elif kind == 2:  # amounts
        values = rng.lognormal(3, 2, events) * rng.choice([-1.0, 1.0], events)
    else:  # a few infinities among wide values
        values = rng.normal(size=events) * 10.0 ** rng.integers(-300, 300, events)
        values[rng.random(events) < 0.05] = rng.choice([math.inf, -math.inf])
    a, b = rng.integers(0, events + 1, (2, ranges))
    return values, np.minimum(a, b), np.maximum(a, b)


# --- the references agree with each other


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_references_agree_where_fsum_answers(name: str) -> None:
    values = ADVERSARIAL[name]
    by_fsum = fsum_reference(values)
    if by_fsum is None:  # math.fsum raises only where a partial sum overflows
        assert sum(abs(v) for v in values) > MAX
        return
    assert _bits(np.array([exact_reference(values)])) == _bits(np.array([by_fsum]))


# --- numpy


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_numpy_adversarial(name: str) -> None:
    values, lo, hi = _concatenated([ADVERSARIAL[name]])
    got = exact_sums(values, lo, hi)
    assert _bits(got) == _bits(_expected(values, lo, hi)), (name, got)


def test_contract_exceptions() -> None:
    cases = {
        "negative_zeros": 0.0,
        "zero_from_cancellation": 0.0,
        "overflow": math.inf,
        "overflow_negative": -math.inf,
        "overflow_at_half_ulp": math.inf,
        "below_half_ulp": MAX,
        "max_minus": MAX,
        "overflow_then_back": 1e308,
        "plus_inf": math.inf,
        "minus_inf": -math.inf,
        "two_plus_infs": math.inf,
        "empty": 0.0,
        "tie_to_even_down": 1.0,
        "tie_broken_by_sticky": 1.0 + 2.0**-52,
        "largest_subnormal": 2.0**-1022 - TINY,
    }
    values, lo, hi = _concatenated([ADVERSARIAL[n] for n in cases])
    assert (
        _bits(exact_sums(values, lo, hi)).tolist() == _bits(np.array(list(cases.values()))).tolist()
    )
    assert np.isnan(exact_sums(*_concatenated([ADVERSARIAL["both_infs"]])))[0]


Implementation = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _naive(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.array([np.sum(values[a:b]) for a, b in zip(lo, hi, strict=True)])


def _fsum_plain(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    def one(part: list[float]) -> float:
        try:
            return math.fsum(part)
        except (OverflowError, ValueError):
            return math.nan

    return np.array([one(values[a:b].tolist()) for a, b in zip(lo, hi, strict=True)])


def _two_step(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Kahan-Babuska-Neumaier: accurate, but rounds more than once."""
    out = []
    for a, b in zip(lo, hi, strict=True):
        total, compensation = 0.0, 0.0
        for v in values[a:b].tolist():
            t = total + v
            compensation += (total - t) + v if abs(total) >= abs(v) else (v - t) + total
            total = t
        out.append(total + compensation)
    return np.array(out)


@pytest.mark.parametrize("wrong", [_naive, _fsum_plain, _two_step])
def test_adversarial_cases_catch_wrong_implementations(wrong: Implementation) -> None:
    values, lo, hi = _concatenated(list(ADVERSARIAL.values()))
    with np.errstate(all="ignore"):
        got = wrong(values, lo, hi)
    assert (_bits(got) != _bits(_expected(values, lo, hi))).any()
    assert (_bits(exact_sums(values, lo, hi)) == _bits(_expected(values, lo, hi))).all()


@pytest.mark.parametrize("seed", range(8))
def test_numpy_random_overlapping_ranges(seed: int) -> None:
    values, lo, hi = _random_data(seed, 300, 200)
    assert (_bits(exact_sums(values, lo, hi)) == _bits(_expected(values, lo, hi))).all()


@pytest.mark.parametrize("seed", [0, 2])  # many limbs (zeros scattered), few (zeros filled)
def test_numpy_many_chunks(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    """Prefix sums carried across chunks of events (chunks of 7 events here)."""
    values, lo, hi = _random_data(seed, 600, 100)
    hi[:20] = 600  # long ranges crossing many chunks
    lo[:20] = np.arange(20)
    expected = _expected(values, lo, hi)
    monkeypatch.setattr(numpy_exact_sum, "_EXACT_BLOCK_CELLS", 7)
    monkeypatch.setattr(numpy_exact_sum, "_EXACT_MIN_CHUNK", 7)
    monkeypatch.setattr(numpy_exact_sum, "_EXACT_ROUND_COLUMNS", 13)
    assert (_bits(exact_sums(values, lo, hi)) == _bits(expected)).all()


def test_numpy_order_independent() -> None:
    values, lo, hi = _random_data(4, 500, 1)
    lo[0], hi[0] = 0, 500
    rng = np.random.default_rng(1)
    sums = {int(_bits(exact_sums(rng.permutation(values), lo, hi))[0]) for _ in range(5)}
    assert sums == {int(_bits(_expected(values, lo, hi))[0])}


def test_numpy_empty_inputs() -> None:
    empty = np.zeros(0, dtype=np.int64)
    assert exact_sums(np.zeros(0), empty, empty).shape == (0,)
    got = exact_sums(np.zeros(0), np.zeros(3, np.int64), np.zeros(3, np.int64))
    assert _bits(got).tolist() == [0, 0, 0]
    got = exact_sums(np.array([1.0, -0.0]), np.array([1, 2, 0]), np.array([2, 2, 0]))
    assert _bits(got).tolist() == [0, 0, 0]


@pytest.mark.parametrize(
    ("values", "lo", "hi", "message"),
    [
        (np.array([1.0, math.nan]), [0], [2], "NaN"),
        (np.array([1.0]), [1], [0], "lo <= hi"),
        (np.array([1.0]), [0], [2], "<= 1"),
        (np.array([1.0]), [-1], [0], "0 <="),
        (np.array([1.0], dtype=np.float32), [0], [1], "float64"),
        (np.array([1.0]), [0.0], [1.0], "int64"),
    ],
)
def test_numpy_refuses_bad_input(values: np.ndarray, lo: list, hi: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        exact_sums(values, np.array(lo), np.array(hi))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.floats(allow_nan=False, allow_infinity=True), max_size=30),
    st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30)), max_size=10),
)
def test_numpy_hypothesis(values: list[float], pairs: list[tuple[int, int]]) -> None:
    array = np.array(values, dtype=np.float64)
    lo = np.array([min(a, b, len(values)) for a, b in pairs], dtype=np.int64)
    hi = np.array([min(max(a, b), len(values)) for a, b in pairs], dtype=np.int64)
    assert (_bits(exact_sums(array, lo, hi)) == _bits(_expected(array, lo, hi))).all()


def test_numpy_file_is_standalone() -> None:
    """The code generator embeds the file's text: numpy and __future__ only, and it works when
    executed on its own."""
    source = Path(numpy_exact_sum.__file__).read_text(encoding="utf-8")
    imports = [
        node for node in ast.parse(source).body if isinstance(node, ast.Import | ast.ImportFrom)
    ]
    names = sorted(
        (node.module or "") if isinstance(node, ast.ImportFrom) else node.names[0].name
        for node in imports
    )
    assert names == ["__future__", "numpy"]
    tree = ast.parse(source)
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    defined |= {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert all(name == "exact_sums" or name.lower().startswith("_exact_") for name in defined)
    namespace: dict[str, object] = {}
    exec(compile(source, "embedded", "exec"), namespace)
    function = namespace["exact_sums"]
    values, lo, hi = _concatenated(list(ADVERSARIAL.values()))
    assert (_bits(function(values, lo, hi)) == _bits(_expected(values, lo, hi))).all()  # type: ignore[operator]


# --- ONNX


def _model() -> onnx.ModelProto:
    ctx = GraphContext(reserved=frozenset({"values", "lo", "hi"}))
    result = onnx_exact_sums(ctx, "values", "lo", "hi")
    graph = helper.make_graph(
        ctx.nodes,
        "exact_sum",
        [
            helper.make_tensor_value_info("values", TensorProto.DOUBLE, ["events"]),
            helper.make_tensor_value_info("lo", TensorProto.INT64, ["ranges"]),
            helper.make_tensor_value_info("hi", TensorProto.INT64, ["ranges"]),
        ],
        [helper.make_tensor_value_info(result, TensorProto.DOUBLE, ["ranges"])],
        _used_initializers(ctx),
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION
    )
    onnx.checker.check_model(model, full_check=True)
    return onnx.shape_inference.infer_shapes(model, strict_mode=True)


@pytest.fixture(scope="module")
def model_bytes() -> bytes:
    return _model().SerializeToString()


def _run(session: object, values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    feeds = {"values": values, "lo": lo.astype(np.int64), "hi": hi.astype(np.int64)}
    result: np.ndarray = session.run(None, feeds)[0]  # type: ignore[attr-defined]
    return result


def _all_cases() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    data = [_concatenated(list(ADVERSARIAL.values()))]
    data += [_concatenated([case]) for case in ADVERSARIAL.values()]  # one row at a time
    data += [_random_data(seed, events, 40) for seed in range(8) for events in (0, 1, 5, 120)]
    return data


@pytest.mark.parametrize(
    ("optimization", "threads"), [(level, 1) for level in OPTIMIZATIONS] + [("all", 2)]
)
def test_onnx_equals_numpy(model_bytes: bytes, optimization: str, threads: int) -> None:
    session = onnx_session(model_bytes, optimization, threads)
    for values, lo, hi in _all_cases():
        expected = exact_sums(values, lo, hi)
        got = _run(session, values, lo, hi)
        assert got.dtype == np.float64 and got.shape == lo.shape
        differ = np.flatnonzero(_bits(got) != _bits(expected))
        assert differ.size == 0, [
            (values[lo[i] : hi[i]].tolist(), got[i], expected[i]) for i in differ[:3]
        ]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(allow_nan=False, allow_infinity=True), max_size=20),
    st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=6),
)
def test_onnx_hypothesis(model_bytes: bytes, values: list[float], pairs: list) -> None:
    array = np.array(values, dtype=np.float64)
    lo = np.array([min(a, b, len(values)) for a, b in pairs], dtype=np.int64)
    hi = np.array([min(max(a, b), len(values)) for a, b in pairs], dtype=np.int64)
    session = _session_cache(model_bytes)
    assert (_bits(_run(session, array, lo, hi)) == _bits(exact_sums(array, lo, hi))).all()


_SESSIONS: dict[bytes, object] = {}


def _session_cache(model_bytes: bytes) -> object:
    if model_bytes not in _SESSIONS:
        _SESSIONS[model_bytes] = onnx_session(model_bytes, "all")
    return _SESSIONS[model_bytes]


def _cached_runtimes() -> list[str]:
    """The runtimes of the matrix installed in the cache (none is installed here)."""
    home = matrix.cache_dir()
    found = []
    for rid in matrix.MATRIX:
        kind, version = matrix.parse_runtime(rid)
        if (home / f"{kind}-ort-{version}" / ".ready").exists():
            found.append(rid)
    return found


# The bounded slice `make test` runs (the declared minimum, the newest Python onnxruntime and
# onnxruntime-node, as tests/test_runtime_matrix_ops.py does); the slow test runs them all.
SLICE = (
    f"python-ort=={matrix.PYTHON_MIN}",
    f"python-ort=={matrix.PYTHON_NEWEST}",
    f"node-ort=={matrix.NODE_ORT_VERSION}",
)


def test_onnx_on_cached_runtimes_of_the_slice(model_bytes: bytes, tmp_path: Path) -> None:
    runtimes = [rid for rid in _cached_runtimes() if rid in SLICE]
    if not runtimes:
        pytest.skip(f"no runtime of {SLICE} is installed under {matrix.cache_dir()}")
    _check_runtimes(model_bytes, tmp_path, runtimes, ("all",))


@pytest.mark.slow
def test_onnx_on_every_cached_runtime(model_bytes: bytes, tmp_path: Path) -> None:
    runtimes = _cached_runtimes()
    if not runtimes:
        pytest.skip(f"no runtime of the matrix is installed under {matrix.cache_dir()}")
    _check_runtimes(model_bytes, tmp_path, runtimes, CHECKED_OPTIMIZATIONS)


def _check_runtimes(
    model_bytes: bytes, tmp_path: Path, runtimes: list[str], optimizations: Sequence[str]
) -> None:
    path = tmp_path / "exact_sum.onnx"
    path.write_bytes(model_bytes)
    # The runtime clients take feeds of one length: as many ranges as events.
    cases = _all_cases()
    values, lo, hi = (np.concatenate(parts) for parts in zip(*_shifted(cases), strict=True))
    if values.size < lo.size:  # zeros at the end change no sum
        values = np.concatenate([values, np.zeros(lo.size - values.size)])
    rng = np.random.default_rng(7)
    extra = values.size - lo.size
    start = rng.integers(0, values.size + 1, extra)
    lo = np.concatenate([lo, start])
    hi = np.concatenate([hi, np.minimum(start + rng.integers(0, 60, extra), values.size)])
    expected = _bits(exact_sums(values, lo, hi))
    failures = []
    for rid in runtimes:
        runtime = matrix.ensure_runtime(rid)
        for optimization in optimizations:
            outputs = runtime.run(
                path, {"values": values, "lo": lo, "hi": hi}, optimization=optimization
            )
            (got,) = outputs.values()
            differ = int((_bits(got) != expected).sum())
            if differ:
                failures.append(f"{rid} ({optimization}): {differ} of {lo.size} sums differ")
    assert not failures, failures


def _shifted(
    cases: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    out, offset = [], 0
    for values, lo, hi in cases:
        out.append((values, lo + offset, hi + offset))
        offset += values.size
    return out
