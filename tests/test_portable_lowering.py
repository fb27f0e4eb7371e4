"""The lowerings that keep the serving graph portable (docs/parity.md, "Avoided op/dtype
combinations"): each case the runtime matrix found, as a spec a user would write, checked bit for
bit against the value Python computes, with onnxruntime at every optimization level, in one batch
and row by row. tests/test_runtime_matrix_ops.py runs the primitives on the other releases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from featuredsl.artifact.spec import FittedSpec, Spec
from featuredsl.parity.sessions import OPTIMIZATIONS, onnx_session, run_outputs


def _fitted(body: str, inputs: str) -> FittedSpec:
    spec = Spec(f"spec t\n\ninput {{\n{inputs}\n}}\n\n{body}\n")
    return spec.fit_feed({})


def _bits(values: np.ndarray) -> list[str]:
    return [float(v).hex() for v in np.asarray(values, dtype=np.float64).ravel()]


def _served(fitted: FittedSpec, feed: dict[str, np.ndarray], optimization: str) -> np.ndarray:
    session = onnx_session(fitted.onnx_model().SerializeToString(), optimization)
    batch = run_outputs(session, feed)[0]
    rows = len(next(iter(feed.values())))
    single = np.vstack(
        [run_outputs(session, {k: v[i : i + 1] for k, v in feed.items()})[0] for i in range(rows)]
    )
    assert _bits(batch) == _bits(single), f"{optimization}: batch and single rows differ"
    return batch


def _assert_everywhere(fitted: FittedSpec, feed: dict[str, np.ndarray], python: np.ndarray) -> None:
    """numpy module == Python's values, and the graph == both at every optimization level."""
    module = fitted.transform_feed(feed)
    assert _bits(module) == _bits(python)
    for optimization in OPTIMIZATIONS:
        assert _bits(_served(fitted, feed, optimization)) == _bits(python), optimization


ZEROS = np.array([-0.0, 0.0])


@pytest.mark.parametrize(
    ("expression", "python"),
    [
        ("expm1(x)", math.expm1),
        ("log1p(x)", math.log1p),
        ("sin(x)", math.sin),
        ("sqrt(x)", math.sqrt),
        ("-x", lambda v: -v),
        ("x * 2.0", lambda v: v * 2.0),
        ("round(x, 0)", lambda v: round(v, 0)),
    ],
)
def test_signed_zeros_are_what_python_math_gives(expression: str, python) -> None:
    fitted = _fitted(f"feature f = {expression}", "  x: float")
    expected = np.array([[python(v)] for v in ZEROS.tolist()])
    assert -0.0 in expected and any(math.copysign(1.0, v) < 0 for v in expected.ravel())
    _assert_everywhere(fitted, {"x": ZEROS}, expected)


ROUNDING = np.array([-0.0, 0.0, -0.5, -1e-300, -0.9999999999999999, 0.5, -1.5, 2.5])


@pytest.mark.parametrize(
    ("expression", "ieee"),
    [("floor(x)", np.floor), ("ceil(x)", np.ceil), ("round(x)", np.rint)],
)
def test_rounding_keeps_the_sign_of_a_zero_result(expression: str, ieee) -> None:
    """onnxruntime 1.20.1 rounds -0.0 (ceil: anything in (-1, 0)) to 0.0; IEEE gives -0.0."""
    fitted = _fitted(f"feature f = {expression}", "  x: float")
    expected = ieee(ROUNDING)[:, None]
    assert _bits(expected[2]) == [(-0.0).hex()] or expression != "ceil(x)"
    _assert_everywhere(fitted, {"x": ROUNDING}, expected)


def _ieee_min(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b):
        return math.nan
    if a == b == 0.0:
        return -0.0 if math.copysign(1.0, a) < 0 or math.copysign(1.0, b) < 0 else 0.0
    return min(a, b)


def _ieee_max(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b):
        return math.nan
    if a == b == 0.0:
        return 0.0 if math.copysign(1.0, a) > 0 or math.copysign(1.0, b) > 0 else -0.0
    return max(a, b)


PAIRS = [(a, b) for a in (-0.0, 0.0, -7.0, 3.0, -math.inf) for b in (-0.0, 0.0, 1.0, -math.inf)]


@pytest.mark.parametrize(
    ("expression", "python"),
    [
        ("min(x, y)", _ieee_min),
        ("max(x, y)", _ieee_max),
        ("clip(x, -0.0, 0.0)", lambda a, b: _ieee_min(_ieee_max(a, -0.0), 0.0)),
        ("min(x, 0.0)", lambda a, b: _ieee_min(a, 0.0)),
        ("max(x, -0.0)", lambda a, b: _ieee_max(a, -0.0)),
        ("if y > 0 then x else -0.0", lambda a, b: a if b > 0 else -0.0),
        ("if y > 0 then -x else x", lambda a, b: -a if b > 0 else a),
    ],
)
def test_min_max_and_where_order_zeros_as_ieee_754_2019(expression: str, python) -> None:
    """-0.0 is below 0.0: min(-0.0, 0.0) is -0.0 whatever the argument order and batch size (numpy
    and onnxruntime each pick either zero, depending on the code path)."""
    fitted = _fitted(f"feature f = {expression}", "  x: float\n  y: float")
    x = np.array([a for a, _ in PAIRS])
    y = np.array([b for _, b in PAIRS])
    expected = np.array([[python(a, b)] for a, b in PAIRS])
    _assert_everywhere(fitted, {"x": x, "y": y}, expected)


def test_reciprocal_times_a_constant_rounds_twice() -> None:
    """ORT_ENABLE_BASIC's DivMulFusion would compute (1 / x) * 3.0 as 3.0 / x (0.6 at x = 5)."""
    fitted = _fitted("feature f = (1 / x) * 3.0\nfeature g = sigmoid(x) * pi", "  x: float")
    x = np.array([5.0, 3.0, 7.0, -7.0, 1e-300, 0.1])
    expected_f = [(1 / v) * 3.0 for v in x.tolist()]
    assert expected_f[0] == 0.6000000000000001
    module = fitted.transform_feed({"x": x})
    assert _bits(module[:, 0]) == _bits(np.array(expected_f))
    _assert_everywhere(fitted, {"x": x}, module)


INT64_EDGES = np.array(
    [
        4294967295,
        12_000_000_000,
        10_000_000_000,
        -(2**31) - 1,
        2**31,
        2**53 + 1,
        -(2**63),
        2**63 - 1,
        7,
        -7,
    ],
    dtype=np.int64,
)


def test_int64_min_max_beyond_32_bits() -> None:
    """onnxruntime 1.22-1.31 get int64 Min/Max wrong beyond +-2**31, depending on the batch size."""
    fitted = _fitted(
        "feature f = min(bytes, 10000000000)\nfeature g = max(bytes, -10000000000)\n"
        "feature h = min(bytes, other)\nfeature k = max(bytes, other)",
        "  bytes: int\n  other: int",
    )
    other = np.roll(INT64_EDGES, 3)
    python = [
        [min(b, 10**10), max(b, -(10**10)), min(b, o), max(b, o)]
        for b, o in zip(INT64_EDGES.tolist(), other.tolist(), strict=True)
    ]
    _assert_everywhere(
        fitted, {"bytes": INT64_EDGES, "other": other}, np.array(python, dtype=np.float64)
    )


def test_floor_division_and_days_between_beyond_2_to_the_53() -> None:
    """onnxruntime 1.20-1.31 compute int64 Mod(fmod=1) through double: days_between instants
    centuries apart came out one day off."""
    fitted = _fitted(
        "feature d = days_between(a, b)\nfeature q = n // 7\nfeature r = n % 7\nfeature y = year(a)",
        "  a: timestamp\n  b: timestamp\n  n: int",
    )
    a = np.array(
        [253_402_300_799_999_999, -62_135_596_800_000_000, 2**62, 0, -1, 1], dtype=np.int64
    )
    b = np.array(
        [2, 253_402_300_799_999_999, -(2**62), -1, 86_400_000_000 * 5 - 1, 0], dtype=np.int64
    )
    n = np.array(
        [-(2**63) + 1, -(2**53) - 1, 2**63 - 1, -7, -1, 9_007_199_254_740_993], dtype=np.int64
    )
    python = [
        [(tb - ta) // 86_400_000_000, m // 7, m % 7, float("nan")]
        for ta, tb, m in zip(a.tolist(), b.tolist(), n.tolist(), strict=True)
    ]
    module = fitted.transform_feed({"a": a, "b": b, "n": n})
    expected = np.array(python)
    expected[:, 3] = module[:, 3]  # year: checked against the calendar elsewhere; here: agreement
    _assert_everywhere(fitted, {"a": a, "b": b, "n": n}, expected)


def test_strip_of_only_empty_strings() -> None:
    """onnxruntime 1.20.1 failed in ReduceMax when every string of a batch was empty."""
    fitted = _fitted('feature f = strip(s) == ""', "  s: string")
    feed = {"s": np.array(["", "", ""], dtype=object)}
    _assert_everywhere(fitted, feed, np.array([[1.0], [1.0], [1.0]]))


def test_the_sign_analysis_never_rules_out_a_sign_that_occurs() -> None:
    """backends/onnx/signs.py decides where a plain Where is safe: on every probe (each primitive
    on its edge cases) the values it rules out never occur in the numpy module's results."""
    from featuredsl.backends.onnx.signs import signs_of
    from featuredsl.compiler.ir import walk
    from featuredsl.parity import primitive_cases

    combination = primitive_cases.combined()
    known: dict = {}
    for case in combination.cases:
        for node in walk([case.node]):
            known[node] = signs_of(node, known)
    checked = 0
    for case, values in zip(combination.cases, combination.expected, strict=True):
        if values.dtype != np.float64:
            continue
        signs = known[case.node]
        numbers = values[~np.isnan(values)]
        negative = np.signbit(numbers)
        assert signs.negative or not negative.any(), case.probe.name
        assert signs.positive or negative.all(), case.probe.name
        assert signs.negative_zero or not (negative & (numbers == 0)).any(), case.probe.name
        checked += 1
    assert checked >= 20
