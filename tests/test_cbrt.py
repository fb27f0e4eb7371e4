"""cbrt: added as one declaration in compiler/ops/math.py (lowering + Op), nothing else.

It is computed from exactly rounded primitives, so the two runtimes agree bit for bit; against
C's cbrt (numpy) it is within 1 ULP, exact on perfect cubes and on the IEEE specials.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from featuredsl.artifact.spec import Spec
from featuredsl.parity.compare import ulp_distance


def _fitted():
    spec = Spec("spec c\ninput { x: float }\nfeature f = cbrt(x)\n", "cbrt.fdsl")
    return spec.fit({"x": np.array([1.0, 8.0])})


def _values() -> np.ndarray:
    rng = np.random.default_rng(7)
    n = 50_000
    wide = rng.standard_normal(n) * 10.0 ** rng.integers(-300, 300, n)
    bits = np.frombuffer(rng.integers(0, 2**63 - 1, n, dtype=np.int64).tobytes(), np.float64)
    values = np.concatenate([wide, rng.uniform(-1e3, 1e3, n), bits, -bits])
    return values[np.isfinite(values)]


def test_cbrt_within_one_ulp_of_c_and_identical_in_onnxruntime() -> None:
    fitted = _fitted()
    x = _values()
    numpy_out = fitted.transform({"x": x})[:, 0]
    assert ulp_distance(numpy_out, np.cbrt(x)).max() <= 1.0
    session = ort.InferenceSession(fitted.onnx_model().SerializeToString())
    onnx_out = session.run(["features"], {"x": x})[0][:, 0]
    assert np.array_equal(onnx_out.view(np.int64), numpy_out.view(np.int64))


def test_cbrt_exact_on_perfect_cubes_and_specials() -> None:
    fitted = _fitted()
    roots = np.arange(-(2**17), 2**17, dtype=np.float64)
    assert np.array_equal(fitted.transform({"x": roots**3})[:, 0], roots)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, 5e-324, -5e-324, 1.7976931348623157e308])
    got = fitted.transform({"x": specials})[:, 0]
    want = np.cbrt(specials)
    assert [v.hex() for v in got] == [v.hex() for v in want]  # -0.0 keeps its sign
