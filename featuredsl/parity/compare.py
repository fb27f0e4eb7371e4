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


class CompareAcc:
    """`compare` over a stream of row batches, with the result of one call on all rows.

    `add(expected, actual, offset)` takes the [rows, columns] float64 outputs of consecutive
    batches (`offset`: the first row's number in the whole data). Kept per column: the largest
    ULP distance; for an exact column, its violation count and its `worst` worst rows; for a
    column with a ULP bound, the largest finite |expected| (the scale of its cancellation
    tolerance, known only at the end) and the cells outside the ULP bound that the tolerance of
    the scale so far does not allow (the scale only grows, so a cell allowed now stays allowed).
    Memory: one batch and those cells (none on a build that passes).
    """

    def __init__(self, names: Sequence[str], bounds: Sequence[int], worst: int = 5) -> None:
        self.names = list(names)
        self.limits = np.asarray(bounds, dtype=np.float64)
        if self.limits.shape != (len(self.names),):
            raise ValueError(f"{len(self.names)} names, {len(self.limits)} bounds")
        self.worst = worst
        self.rows = 0
        width = len(self.names)
        self.max_ulp = np.zeros(width)
        self.scale = np.zeros(width)
        # column -> (rows, distances, |expected - actual|, expected, actual) of kept cells
        self.cells: dict[int, tuple[np.ndarray, ...]] = {}
        self.counts = np.zeros(width, dtype=np.int64)  # violations of exact columns

    def add(self, expected: np.ndarray, actual: np.ndarray, offset: int | None = None) -> None:
        """One batch's outputs; rows numbered from `offset` (default: the rows seen so far)."""
        if expected.shape != actual.shape:
            raise ValueError(f"shape mismatch: {expected.shape} vs {actual.shape}")
        if expected.shape[1] != len(self.names):
            raise ValueError(f"{expected.shape[1]} columns, {len(self.names)} names")
        first = self.rows if offset is None else offset
        rows = expected.shape[0]
        step = max(1, BLOCK_CELLS // max(rows, 1))
        for start in range(0, expected.shape[1], step):
            block = slice(start, start + step)
            self._add_block(start, expected[:, block], actual[:, block], first)
        self.rows += rows

    def _add_block(self, start: int, e: np.ndarray, a: np.ndarray, first: int) -> None:
        if e.shape[0] == 0:
            return
        limits = self.limits[start : start + e.shape[1]]
        distance = ulp_distance(e, a)
        columns = slice(start, start + e.shape[1])
        self.max_ulp[columns] = np.maximum(self.max_ulp[columns], distance.max(axis=0))
        for b in np.flatnonzero(limits).tolist():
            finite = np.abs(e[:, b][np.isfinite(e[:, b])])
            if finite.size:
                self.scale[start + b] = max(self.scale[start + b], float(finite.max()))
        outside = distance > limits
        for j in np.flatnonzero(outside.any(axis=0)).tolist():
            column = start + j
            rows = np.flatnonzero(outside[:, j])
            with np.errstate(invalid="ignore"):
                gap = np.abs(e[rows, j] - a[rows, j])
            cells: tuple[np.ndarray, ...] = (
                rows + first,
                distance[rows, j],
                gap,
                e[rows, j],
                a[rows, j],
            )
            if limits[j] == 0:
                self.counts[column] += len(rows)
            old = self.cells.get(column)
            if old is not None:
                cells = tuple(np.concatenate([x, y]) for x, y in zip(old, cells, strict=True))
            self.cells[column] = self._pruned(column, cells)

    def _pruned(self, column: int, cells: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        """Exact columns: the `worst` worst cells. Bounded: the cells still not allowed."""
        if self.limits[column] == 0:
            keep = self._order(cells)[: self.worst]
        else:
            with np.errstate(invalid="ignore"):
                keep = np.flatnonzero(~(cells[2] <= self._tolerance(column)))
        return tuple(x[keep] for x in cells)

    def _tolerance(self, column: int) -> float:
        scale = float(self.scale[column])
        return float(self.limits[column] * np.spacing(scale)) if scale else 0.0

    @staticmethod
    def _order(cells: tuple[np.ndarray, ...]) -> np.ndarray:
        """Worst first: the larger ULP distance, then the earlier row."""
        return np.lexsort((cells[0], -cells[1]))

    def cell(self, column: int, row: int) -> tuple[float, float]:
        """(expected, actual) of a cell listed among a column's worst rows in `result()`."""
        cells = self.cells[column]
        at = int(np.flatnonzero(cells[0] == row)[0])
        return float(cells[3][at]), float(cells[4][at])

    def result(self) -> Comparison:
        columns = []
        for index, name in enumerate(self.names):
            cells = self.cells.get(index)
            order: tuple[int, ...] = ()
            violations = 0
            if cells is not None:
                if self.limits[index]:
                    cells = self._pruned(index, cells)  # the final scale's tolerance
                    self.cells[index] = cells
                    violations = len(cells[0])
                else:
                    violations = int(self.counts[index])
                order = tuple(int(cells[0][i]) for i in self._order(cells)[: self.worst])
            columns.append(
                ColumnResult(
                    name,
                    int(self.limits[index]),
                    violations,
                    float(self.max_ulp[index]),
                    order,
                )
            )
        return Comparison(tuple(columns), self.rows)


def compare(
    names: Sequence[str],
    expected: np.ndarray,
    actual: np.ndarray,
    bounds: Sequence[int],
    worst: int = 5,
) -> Comparison:
    """Column by column: violations of each column's bound, the largest ULP distance and the
    `worst` worst rows (see the module doc; CompareAcc gives the same over batches)."""
    if expected.shape != actual.shape:
        raise ValueError(f"shape mismatch: {expected.shape} vs {actual.shape}")
    limits = np.asarray(bounds, dtype=np.float64)
    if limits.shape != (expected.shape[1],) or len(names) != expected.shape[1]:
        raise ValueError(f"{expected.shape[1]} columns, {len(names)} names, {len(limits)} bounds")
    acc = CompareAcc(names, bounds, worst)
    acc.add(expected, actual)
    return acc.result()
