"""Per-column summaries that every statistic is computed from: exact for data, approximate for sketches."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featuredsl.monitor.columns import CATEGORICAL, NUMERIC, Column


@dataclass(frozen=True)
class NumericSummary:
    """Finite values as a weighted distribution, plus exact counts and moments.

    values are sorted and distinct; weights are their counts (raw data, exact profiles) or the
    item weights of a KLL sketch (exact=False). +-inf is kept out of the distribution and counted.
    """

    values: np.ndarray
    weights: np.ndarray
    rows: int
    nulls: int
    pos_inf: int
    neg_inf: int
    mean: float
    std: float  # population standard deviation (ddof=0) of the finite values
    min: float
    max: float
    exact: bool = True
    temporal: bool = False  # values are instants (microseconds since the epoch, UTC)

    kind = NUMERIC

    @property
    def finite(self) -> int:
        return self.rows - self.nulls - self.pos_inf - self.neg_inf

    def samples(self) -> np.ndarray | None:
        """The raw finite values (sorted), when this summary is exact."""
        if not self.exact:
            return None
        return np.repeat(self.values, self.weights.astype(np.int64))

    @cached_property
    def cumulative(self) -> np.ndarray:
        return np.cumsum(self.weights)

    def quantile(self, q: float) -> float:
        """Inverted-CDF quantile: the smallest value whose cumulative share reaches q."""
        if len(self.values) == 0:
            return float("nan")
        cum = self.cumulative
        index = int(np.searchsorted(cum, q * cum[-1], side="left"))
        return float(self.values[min(index, len(self.values) - 1)])


@dataclass(frozen=True)
class CategoricalSummary:
    """Category counts. complete=False when a sketch tracked only the frequent categories:
    `other` then counts the non-null values outside `categories`."""

    categories: tuple[str, ...]
    counts: np.ndarray  # float64, aligned with categories
    rows: int
    nulls: int
    other: int = 0
    complete: bool = True
    singletons: int | None = None  # categories seen exactly once (Good-Turing); None if unknown
    doubletons: int | None = None  # categories seen exactly twice

    kind = CATEGORICAL

    @property
    def present(self) -> int:
        return self.rows - self.nulls


Summary = NumericSummary | CategoricalSummary


def summarize(column: Column) -> Summary:
    if column.kind == NUMERIC:
        summary = summarize_numeric(column.values, column.null)
        return replace(summary, temporal=True) if column.temporal else summary
    return summarize_categorical(column.values, column.null)


def summarize_numeric(values: np.ndarray, null: np.ndarray) -> NumericSummary:
    present = values[~null]
    finite = present[np.isfinite(present)]
    distinct, counts = np.unique(finite, return_counts=True)
    has = len(finite) > 0
    return NumericSummary(
        values=distinct,
        weights=counts.astype(np.float64),
        rows=len(values),
        nulls=int(null.sum()),
        pos_inf=int(np.sum(present == np.inf)),
        neg_inf=int(np.sum(present == -np.inf)),
        mean=float(finite.mean()) if has else float("nan"),
        std=float(finite.std()) if has else float("nan"),
        min=float(distinct[0]) if has else float("nan"),
        max=float(distinct[-1]) if has else float("nan"),
    )


def summarize_categorical(values: np.ndarray, null: np.ndarray) -> CategoricalSummary:
    present = values[~null]
    categories, counts = category_counts(present)
    return CategoricalSummary(
        categories=categories,
        counts=counts,
        rows=len(values),
        nulls=int(null.sum()),
        singletons=int(np.sum(counts == 1)),
        doubletons=int(np.sum(counts == 2)),
    )


def category_counts(values: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """Exact counts per distinct string, sorted by category (hash-based, fast on 1M rows)."""
    if len(values) == 0:
        return (), np.empty(0)
    counted = pc.value_counts(pa.array(values, type=pa.large_string()))
    keys = counted.field("values").to_pylist()
    counts = np.asarray(counted.field("counts").to_numpy(), dtype=np.float64)
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return tuple(keys[i] for i in order), counts[order]
