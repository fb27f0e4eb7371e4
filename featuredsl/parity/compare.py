"""Compare two feature matrices column by column with the per-op tolerance table.

A column is exact unless its IR contains a primitive listed in primitives.ULP_BOUND: exact means
the same IEEE-754 bit pattern, so -0.0 differs from 0.0 (`1 / f` tells them apart downstream),
and the only pattern not compared bit for bit is NaN: any NaN equals any other NaN (payload and
sign are not part of featuredsl's semantics, and runtimes do not preserve them). A column with a
bounded primitive may differ by at most the largest bound of those primitives, measured either
in ULPs of the result (-0.0 is one ULP below 0.0) or, after a cancelling subtraction, in ULPs of
the column's largest magnitude.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance in units in the last place between float64 values: 0 only for identical bits or
    two NaNs; -0.0 vs 0.0 is 1; NaN vs a number is inf."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    ia = _ordered(a)
    ib = _ordered(b)
    # Same sign: the int64 difference is exact. Opposite signs may overflow int64; there
    # the distance is astronomically large anyway, so a float estimate is enough.
    same_sign = (ia >= 0) == (ib >= 0)
    with np.errstate(over="ignore"):
        exact = np.abs(np.where(same_sign, ia - ib, 0)).astype(np.float64)
    rough = np.abs(ia.astype(np.float64) - ib.astype(np.float64))
    distance = np.where(same_sign, exact, rough)
    both_nan = np.isnan(a) & np.isnan(b)
    one_nan = np.isnan(a) ^ np.isnan(b)
    distance = np.where(both_nan, 0.0, distance)
    return np.where(one_nan, np.inf, distance)


def _ordered(values: np.ndarray) -> np.ndarray:
    bits = values.view(np.int64)
    # Map the sign-magnitude float order onto integers, one step per representable value:
    # 0.0 becomes 0, -0.0 becomes -1, -5e-324 becomes -2.
    magnitude = bits & np.int64(2**63 - 1)
    return np.where(bits < 0, np.int64(-1) - magnitude, bits)


@dataclass(frozen=True)
class ColumnResult:
    name: str
    bound: int
    violations: int
    max_ulp: float
    worst_rows: tuple[int, ...]


@dataclass(frozen=True)
class Comparison:
    columns: tuple[ColumnResult, ...]
    rows: int
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.violations == 0 for c in self.columns)

    @property
    def violations(self) -> int:
        return sum(c.violations for c in self.columns)


BLOCK_CELLS = 1 << 22  # values compared per block of columns


def _compare_block(
    names: Sequence[str],
    expected: np.ndarray,
    actual: np.ndarray,
    limits: np.ndarray,
    worst: int,
) -> list[ColumnResult]:
    distance = ulp_distance(expected, actual)
    allowed = distance <= limits
    for bounded in np.flatnonzero(limits):
        # After cancellation, compare against the column's scale rather than each value
        # (a zero's sign still counts: -0.0 vs 0.0 is 1 ULP, within any bound).
        a, b = expected[:, bounded], actual[:, bounded]
        finite = np.abs(a[np.isfinite(a)])
        scale = float(finite.max()) if finite.size else 0.0
        tolerance = limits[bounded] * np.spacing(scale) if scale else 0.0
        with np.errstate(invalid="ignore"):
            allowed[:, bounded] |= np.abs(a - b) <= tolerance
    violations = [int(n) for n in (~allowed).sum(axis=0)]
    max_ulps = distance.max(axis=0) if expected.shape[0] else np.zeros(expected.shape[1])
    columns = []
    for index, name in enumerate(names):
        order: tuple[int, ...] = ()
        if violations[index]:
            column = distance[:, index]
            bad = np.flatnonzero(~allowed[:, index])
            order = tuple(int(i) for i in bad[np.argsort(-column[bad], kind="stable")][:worst])
        columns.append(
            ColumnResult(name, int(limits[index]), violations[index], float(max_ulps[index]), order)
        )
    return columns


def compare(
    names: Sequence[str],
    expected: np.ndarray,
    actual: np.ndarray,
    bounds: Sequence[int],
    worst: int = 5,
) -> Comparison:
    if expected.shape != actual.shape:
        raise ValueError(f"shape mismatch: {expected.shape} vs {actual.shape}")
    limits = np.asarray(bounds, dtype=np.float64)
    if limits.shape != (expected.shape[1],) or len(names) != expected.shape[1]:
        raise ValueError(f"{expected.shape[1]} columns, {len(names)} names, {len(limits)} bounds")
    # Blocks of columns at once: a one-hot of thousands of columns is a few array operations,
    # and the temporaries stay within BLOCK_CELLS values whatever the width.
    step = max(1, BLOCK_CELLS // max(expected.shape[0], 1))
    columns: list[ColumnResult] = []
    for start in range(0, expected.shape[1], step):
        block = slice(start, start + step)
        columns += _compare_block(
            names[block], expected[:, block], actual[:, block], limits[block], worst
        )
    return Comparison(tuple(columns), int(expected.shape[0]))
