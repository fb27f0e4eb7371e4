"""round(x, n), float % and //, int round: the bits Python gives, in both runtimes.

Each test compares the numpy module and the ONNX graph with CPython on random and adversarial
values (decimal ties and their ULP neighbours, huge, tiny, subnormal, +-0.0, +-inf, NaN). The
sample size is FEATUREDSL_SEMANTICS_SAMPLES per case (default small for `make test`; `make fuzz`
runs millions).
"""

from __future__ import annotations

import math
import os

import numpy as np
import onnxruntime as ort
import pytest

from featuredsl.artifact.spec import Spec

SAMPLES = int(os.environ.get("FEATUREDSL_SEMANTICS_SAMPLES", "1500"))
NULL = 777.0  # fill_null value standing for Python's "undefined" (NaN is null for floats)
SPECIALS = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.5, -2.5, 3.0, -3.0, 7.0, 0.125, 2.675, -0.025]
SPECIALS += [1e17, -1e17, 1e300, 1e-300, 5e-324, -5e-324, 1.7976931348623157e308]
SPECIALS += [2.0**52 + 1, 2.0**53, math.inf, -math.inf, math.nan]


def _fitted(expression: str, inputs: str):
    source = f"spec s\ninput {{ {inputs} }}\nfeature f = fill_null({expression}, {NULL})\n"
    spec = Spec(source, "semantics.fdsl")
    names = [part.split(":")[0].strip() for part in inputs.split("  ")]
    return spec.fit({name: np.array([1.0, 2.0]) for name in names})


def _both(fitted, feed: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    numpy_out = fitted.transform(feed)[:, 0]
    session = ort.InferenceSession(fitted.onnx_model().SerializeToString())
    names = {i.name for i in session.get_inputs()}
    onnx_out = session.run(["features"], {k: v for k, v in feed.items() if k in names})[0][:, 0]
    return numpy_out, onnx_out


def _bits(values: np.ndarray) -> np.ndarray:
    bits = values.view(np.int64).copy()
    bits[np.isnan(values)] = -1  # every NaN is one NaN
    return bits


def _python(function, *args: float) -> float:
    if any(math.isnan(a) for a in args):
        return NULL
    try:
        result = function(*args)
    except ZeroDivisionError:
        return NULL
    return NULL if math.isnan(result) else result


def _assert_same(x: np.ndarray, want: np.ndarray, numpy_out, onnx_out, what: str) -> None:
    for name, got in (("numpy", numpy_out), ("onnx", onnx_out)):
        bad = np.flatnonzero(_bits(got) != _bits(want))
        shown = [(float(x[i]).hex(), float(got[i]), float(want[i])) for i in bad[:5]]
        assert bad.size == 0, f"{what} {name}: {bad.size} of {len(x)} differ from Python: {shown}"


def _doubles(rng: np.random.Generator, n: int) -> np.ndarray:
    wide = rng.standard_normal(n) * 10.0 ** rng.integers(-300, 300, n)
    raw = np.frombuffer(rng.integers(0, 2**63 - 1, n, dtype=np.int64).tobytes(), np.float64)
    small = rng.integers(-30, 30, n).astype(np.float64) * rng.choice([1.0, 0.5, 0.25], n)
    values = np.concatenate(
        [wide, raw * rng.choice([-1.0, 1.0], n), small, rng.uniform(-1e4, 1e4, n)]
    )
    return rng.permutation(values[np.isfinite(values)])


def _decimal_ties(rng: np.random.Generator, n: int, digits: int) -> np.ndarray:
    k = rng.integers(-(10**7), 10**7, n).astype(np.float64) + 0.5
    ties = k / 10.0**digits if digits >= 0 else k * 10.0**-digits
    big = 2.0 ** rng.integers(48, 60, n).astype(np.float64) * rng.uniform(1, 2, n)
    big = big / 10.0**digits if digits >= 0 else big * 10.0**-digits
    return np.concatenate(
        [ties, np.nextafter(ties, np.inf), np.nextafter(ties, -np.inf), big, -big]
    )


@pytest.mark.parametrize("digits", range(-22, 23))
def test_round_is_pythons_round(digits: int) -> None:
    rng = np.random.default_rng(1000 + digits)
    x = np.concatenate(
        [np.array(SPECIALS), _decimal_ties(rng, SAMPLES, digits), _doubles(rng, SAMPLES)]
    )
    numpy_out, onnx_out = _both(_fitted(f"round(x, {digits})", "x: float?"), {"x": x})
    want = np.array([_python(lambda v: round(v, digits), v) for v in x.tolist()])
    _assert_same(x, want, numpy_out, onnx_out, f"round(x, {digits})")


def test_round_examples_from_the_issue() -> None:
    x = np.array([2.675, -0.025, 0.125, 2.5, 1e300, -0.0])
    numpy_out, _ = _both(_fitted("round(x, 2)", "x: float?"), {"x": x})
    assert numpy_out.tolist() == [2.67, -0.03, 0.12, 2.5, 1e300, -0.0]


@pytest.mark.parametrize("places", [1, 2, 3, 9, 18])
def test_int_round_to_tens_is_pythons(places: int) -> None:
    rng = np.random.default_rng(places)
    step = 10**places
    ties = rng.integers(-(10**6), 10**6, SAMPLES) * step + step // 2
    x = np.concatenate(
        [ties, ties + 1, ties - 1, rng.integers(-(2**62), 2**62, SAMPLES), [0, 5, 15, 25, -25]]
    ).astype(np.int64)
    x = x[np.abs(x.astype(object)) < 2**63 - step]  # results stay in int64
    source = f"spec s\ninput {{ n: int }}\nfeature f = round(n, {-places})\n"
    fitted = Spec(source, "r.fdsl").fit({"n": np.array([1, 2])})
    numpy_out, onnx_out = _both(fitted, {"n": x})
    want = np.array([float(round(int(v), -places)) for v in x.tolist()])
    _assert_same(x.astype(np.float64), want, numpy_out, onnx_out, f"round(n, {-places})")


def _pairs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    a, b = _doubles(rng, SAMPLES), _doubles(rng, SAMPLES)
    size = min(len(a), len(b))
    grid_a, grid_b = np.meshgrid(SPECIALS, SPECIALS)
    a = np.concatenate([a[:size], grid_a.ravel(), [1e17, 1e300, -1.0, 5.0]])
    b = np.concatenate([b[:size], grid_b.ravel(), [3.0, 1e-300, 3.0, -3.0]])
    return a, b


@pytest.mark.parametrize("operator", ["%", "//"])
def test_float_mod_and_floordiv_are_pythons(operator: str) -> None:
    a, b = _pairs(np.random.default_rng(7))
    fitted = _fitted(f"a {operator} b", "a: float?  b: float?")
    numpy_out, onnx_out = _both(fitted, {"a": a, "b": b})
    function = (lambda p, q: p % q) if operator == "%" else (lambda p, q: p // q)
    want = np.array([_python(function, p, q) for p, q in zip(a.tolist(), b.tolist(), strict=True)])
    _assert_same(a, want, numpy_out, onnx_out, f"a {operator} b")


def test_mod_examples_from_the_issue() -> None:
    a = np.array([1e17, 1e300, -1.0, 5.0])
    b = np.array([3.0, 1e-300, 3.0, -3.0])
    numpy_out, _ = _both(_fitted("a % b", "a: float?  b: float?"), {"a": a, "b": b})
    assert numpy_out.tolist() == [1e17 % 3, 1e300 % 1e-300, 2.0, -1.0]
    assert numpy_out[0] == 1.0
