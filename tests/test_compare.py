"""The parity rule: exact columns compare IEEE bit patterns (sign of zero included); any NaN
equals any NaN; bounded columns count ULPs with -0.0 one step below 0.0 (docs/parity.md)."""

from __future__ import annotations

import struct

import numpy as np

from featuredsl.parity.compare import compare, ulp_distance


def _nan(bits: int) -> float:
    value: float = struct.unpack("<d", struct.pack("<Q", bits))[0]
    return value


QUIET_NAN, PAYLOAD_NAN, NEGATIVE_NAN = (
    _nan(0x7FF8000000000000),
    _nan(0x7FF0000000000001),
    _nan(0xFFF8000000000000),
)


def _violations(expected: list[float], actual: list[float], bound: int = 0) -> int:
    result = compare(["f"], np.array([expected]).T, np.array([actual]).T, [bound])
    return result.violations


def test_an_exact_column_tells_minus_zero_from_zero() -> None:
    assert _violations([-0.0, 0.0], [0.0, -0.0]) == 2
    assert _violations([-0.0, 0.0, 1.5], [-0.0, 0.0, 1.5]) == 0


def test_any_nan_equals_any_nan_and_nothing_else() -> None:
    assert _violations([QUIET_NAN, QUIET_NAN], [PAYLOAD_NAN, NEGATIVE_NAN]) == 0
    assert _violations([QUIET_NAN, 0.0], [0.0, QUIET_NAN]) == 2
    assert _violations([QUIET_NAN], [np.inf], bound=8) == 1


def test_ulp_distance_puts_minus_zero_one_step_below_zero() -> None:
    a = np.array([-0.0, -0.0, -5e-324, 1.0, -np.inf])
    b = np.array([0.0, 5e-324, 5e-324, np.nextafter(1.0, 2.0), -np.inf])
    assert ulp_distance(a, b).tolist() == [1.0, 2.0, 3.0, 1.0, 0.0]


def test_a_bounded_column_allows_its_bound_and_no_more() -> None:
    one = 1.0
    three_ulp = float(np.nextafter(np.nextafter(np.nextafter(one, 2.0), 2.0), 2.0))
    assert _violations([one], [three_ulp], bound=3) == 0
    assert _violations([one], [three_ulp], bound=2) == 1
    assert _violations([-0.0], [0.0], bound=1) == 0
