"""The transcendental kernels stay within the documented bound (docs/parity.md)."""

from __future__ import annotations

import pytest

from featuredsl.parity.ulp import ONNX_OPS, measure
from featuredsl.primitives import ULP_BOUND


@pytest.mark.parametrize("op", sorted(ONNX_OPS))
def test_measured_distance_is_within_documented_bound(op: str) -> None:
    result = measure(op, rows=100_000, single_rows=300, seed=7)
    assert result.violations == 0
    assert result.single_max_ulp <= ULP_BOUND[op]
