"""Transcendental functions: pow within its documented bound; log, exp, sin, cos (and the
formulas built on them) bit-identical across runtimes and close to numpy's libm."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import quiet_session

from featuredsl.artifact.spec import Spec
from featuredsl.compiler.primitives import ULP_BOUND
from featuredsl.parity.compare import ulp_distance
from featuredsl.parity.ulp import measure


def test_pow_is_within_documented_bound() -> None:
    result = measure("pow", rows=100_000, single_rows=300, seed=7)
    assert result.violations == 0
    assert result.single_max_ulp <= ULP_BOUND["pow"]


FUNCTIONS = {
    "log": (np.log, "p", 1),
    "exp": (np.exp, "x", 1),
    "sin": (np.sin, "x", 2),
    "cos": (np.cos, "x", 2),
    "log1p": (np.log1p, "p", 2),
    "expm1": (np.expm1, "x", 2),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_lowered_function_is_bit_identical_and_accurate(name: str) -> None:
    reference, argument, max_ulp = FUNCTIONS[name]
    spec = Spec(f"spec t\ninput {{ x: float, p: float }}\nfeature f = {name}({argument})\n")
    fitted = spec.fit({"x": np.array([0.0]), "p": np.array([1.0])})
    rng = np.random.default_rng(11)
    rows = 200_000
    x = np.concatenate([rng.uniform(-745, 709, rows // 2), rng.normal(0, 3, rows // 2)])
    if name in ("sin", "cos"):
        x = rng.uniform(-1e5, 1e5, rows)
    p = np.concatenate([np.exp(rng.uniform(-744, 709, rows // 2)), rng.lognormal(0, 2, rows // 2)])
    feed = {"x": x, "p": p}
    ours = fitted.transform_feed(feed)[:, 0]
    served = quiet_session(fitted.onnx_model().SerializeToString()).run(["features"], feed)[0][:, 0]
    assert np.array_equal(ours.view(np.int64), served.view(np.int64))
    with np.errstate(all="ignore"):
        assert ulp_distance(ours, reference(feed[argument])).max() <= max_ulp
