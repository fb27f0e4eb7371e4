"""Streamed skew sides: per-column summaries accumulated batch by batch, in bounded memory, with
the same result whatever the batch size, the order of the batches or the files.

`featuredsl skew` reads a data side (a file, directory or glob) as batches of at most
`batch_rows` rows; each batch becomes a Dataset (features and, with `--build`, inputs and ages),
each column a mergeable accumulator, merged into the side's running accumulator exactly as the
fit merges its analyzers (featuredsl.fit). Nothing but the current batch and the accumulators is
alive. The result, `Summaries`, is what `featuredsl.monitor.skew.compare` reads: a NumericSummary
or CategoricalSummary per column.

Per numeric column (`NumericAcc`), all exact and independent of the chunking:

* rows, nulls, +inf and -inf counts (integers);
* mean and population std of the finite values from exact sums (`featuredsl.fit.analyzers`'
  Std accumulator: integer multiples of 2^-1074, rounded once);
* min and max (exact, through the order-preserving 64-bit key of each float64);
* the distribution: each distinct finite value with its count while the column has at most
  `distinct_cap` (default SKEW_DISTINCT_CAP = 65,536) distinct values. Past the cap, the values
  are counted per bucket of their key's top 64 - s bits, with the smallest shift s that keeps at
  most `distinct_cap` buckets (s grows one bit at a time). A bucket count is an exact count of
  the values in it; the bucket is represented by the value at its middle key (clamped to
  [min, max]), so a value moves by at most half its bucket: with s = 12 bits, 2^-41 of the
  value's magnitude. The summary is then `exact=False` (the report says "binned"). Since the
  number of distinct values (or buckets) of a subset never exceeds the whole's, every merge
  order ends at the same s and the same counts.

Per categorical column (`CategoricalAcc`): exact counts per category (one entry per distinct
category, as a vocabulary).

Memory: the batch (Arrow, feed, features) plus, per column, at most `distinct_cap` keys and
counts (16 bytes each: 1 MiB at the default) for numeric columns, and one count per category.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from featuredsl.errors import DataError
from featuredsl.fit.analyzers import Mean, Std, SumsAcc, ordered_keys
from featuredsl.monitor.columns import (
    CATEGORICAL,
    FEATURES,
    INPUTS,
    NUMERIC,
    Column,
    Dataset,
)
from featuredsl.monitor.summary import (
    CategoricalSummary,
    NumericSummary,
    Summary,
    category_counts,
)

SKEW_DISTINCT_CAP = 1 << 16
"""Distinct values kept exactly per numeric column of a streamed skew side (1 MiB of keys and
counts); beyond it the column is counted in order-preserving buckets (see the module doc)."""

_SUMS = Std()  # the exact sums of x and x*x (featuredsl.fit.analyzers)
_TOP = np.uint64(1 << 63)


def _values_of_keys(keys: np.ndarray) -> np.ndarray:
    """The float64 values of order-preserving keys (the inverse of fit.analyzers.ordered_keys)."""
    keys = keys.astype(np.uint64)
    bits = np.where(keys >= _TOP, keys ^ _TOP, ~keys)
    return bits.view(np.float64)


def _combine(keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted keys with repeats -> distinct keys and their summed counts."""
    if len(keys) == 0:
        return keys, counts
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    return keys[starts], np.add.reduceat(counts, starts)


@dataclass(frozen=True, eq=False)
class NumericAcc:
    """A numeric column's mergeable summary (see the module doc). `keys` are distinct
    order-preserving keys shifted right by `shift` (0: exact values), sorted, with `counts`."""

    rows: int = 0
    nulls: int = 0
    sums: SumsAcc = field(default_factory=SumsAcc)
    shift: int = 0
    keys: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.uint64))
    counts: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    lo: int | None = None  # the min's and max's full keys
    hi: int | None = None

    kind = NUMERIC

    @classmethod
    def of(cls, column: Column, cap: int) -> NumericAcc:
        """The accumulator of one batch of a numeric column."""
        present = column.values[~column.null]
        finite = present[np.isfinite(present)] + 0.0  # -0.0 counts as 0.0
        keys, counts = np.unique(ordered_keys(finite), return_counts=True)
        sums = _SUMS.add_input(_SUMS.create_accumulator(), present)
        acc = cls(
            len(column),
            int(column.null.sum()),
            sums,
            0,
            keys,
            counts.astype(np.int64),
            int(keys[0]) if len(keys) else None,
            int(keys[-1]) if len(keys) else None,
        )
        return acc._capped(cap)

    def _at(self, shift: int) -> tuple[np.ndarray, np.ndarray]:
        if shift == self.shift:
            return self.keys, self.counts
        return _combine(self.keys >> np.uint64(shift - self.shift), self.counts)

    def _capped(self, cap: int) -> NumericAcc:
        keys, counts, shift = self.keys, self.counts, self.shift
        while len(keys) > cap:
            shift += 1
            keys, counts = _combine(keys >> np.uint64(1), counts)
        return replace(self, shift=shift, keys=keys, counts=counts)

    def merge(self, other: NumericAcc, cap: int) -> NumericAcc:
        shift = max(self.shift, other.shift)
        ka, ca = self._at(shift)
        kb, cb = other._at(shift)
        keys = np.concatenate([ka, kb])
        order = np.argsort(keys, kind="stable")
        keys, counts = _combine(keys[order], np.concatenate([ca, cb])[order])
        ends = [k for k in (self.lo, other.lo) if k is not None]
        tops = [k for k in (self.hi, other.hi) if k is not None]
        merged = NumericAcc(
            self.rows + other.rows,
            self.nulls + other.nulls,
            _SUMS.merge_accumulators([self.sums, other.sums]),
            shift,
            keys,
            counts,
            min(ends) if ends else None,
            max(tops) if tops else None,
        )
        return merged._capped(cap)

    def with_nulls(self, rows: int) -> NumericAcc:
        """`rows` more rows, all null (a batch without this column)."""
        return replace(self, rows=self.rows + rows, nulls=self.nulls + rows)

    def summary(self) -> NumericSummary:
        if self.shift == 0:
            values = _values_of_keys(self.keys)
        else:
            assert self.lo is not None and self.hi is not None
            middle = (self.keys << np.uint64(self.shift)) + np.uint64(1 << (self.shift - 1))
            values = _values_of_keys(np.clip(middle, np.uint64(self.lo), np.uint64(self.hi)))
        finite = replace(self.sums, pos_inf=0, neg_inf=0)
        has = finite.n > 0
        return NumericSummary(
            values=values,
            weights=self.counts.astype(np.float64),
            rows=self.rows,
            nulls=self.nulls,
            pos_inf=self.sums.pos_inf,
            neg_inf=self.sums.neg_inf,
            mean=Mean().extract_output(finite) if has else float("nan"),
            std=_SUMS.extract_output(finite) if has else float("nan"),
            min=float(_values_of_keys(np.array([self.lo]))[0]) if has else float("nan"),
            max=float(_values_of_keys(np.array([self.hi]))[0]) if has else float("nan"),
            exact=self.shift == 0,
        )


@dataclass(frozen=True)
class CategoricalAcc:
    """A categorical column's mergeable summary: exact counts per category."""

    rows: int = 0
    nulls: int = 0
    counts: Mapping[str, int] = field(default_factory=dict)

    kind = CATEGORICAL

    @classmethod
    def of(cls, column: Column, cap: int = 0) -> CategoricalAcc:
        keys, counts = category_counts(column.values[~column.null])
        return cls(
            len(column),
            int(column.null.sum()),
            {k: int(c) for k, c in zip(keys, counts.tolist(), strict=True)},
        )

    def merge(self, other: CategoricalAcc, cap: int = 0) -> CategoricalAcc:
        big, small = (self, other) if len(self.counts) >= len(other.counts) else (other, self)
        counts = dict(big.counts)
        for key, count in small.counts.items():
            counts[key] = counts.get(key, 0) + count
        return CategoricalAcc(self.rows + other.rows, self.nulls + other.nulls, counts)

    def with_nulls(self, rows: int) -> CategoricalAcc:
        return replace(self, rows=self.rows + rows, nulls=self.nulls + rows)

    def summary(self) -> CategoricalSummary:
        keys = sorted(self.counts)
        counts = np.array([self.counts[k] for k in keys], dtype=np.float64)
        return CategoricalSummary(
            categories=tuple(keys),
            counts=counts,
            rows=self.rows,
            nulls=self.nulls,
            singletons=int(np.sum(counts == 1)),
            doubletons=int(np.sum(counts == 2)),
        )


ColumnAcc = NumericAcc | CategoricalAcc


def _empty_like(kind: str, rows: int) -> ColumnAcc:
    if kind == NUMERIC:
        return NumericAcc(rows=rows, nulls=rows)
    return CategoricalAcc(rows=rows, nulls=rows)


@dataclass(frozen=True)
class Summaries:
    """A skew side as per-column summaries by group ("features", "inputs", "ages", "scores"),
    what `featuredsl.monitor.skew.compare` and `compare_freshness` read (like a Profile, but
    exact up to the distinct-value cap and independent of the chunking)."""

    groups: Mapping[str, Mapping[str, Summary]]
    source: str = "data"
    fingerprints: tuple[str, ...] = ()

    def rows(self, group: str = FEATURES) -> int:
        columns = self.groups.get(group, {})
        return next(iter(columns.values())).rows if columns else 0

    def summary(self, group: str, name: str) -> Summary:
        return self.groups[group][name]

    def with_temporal(self, names: Iterable[str], group: str = INPUTS) -> Summaries:
        """The numeric columns `names` of `group` marked as instants (as columns.with_temporal)."""
        wanted = set(names)
        columns = self.groups.get(group)
        if not wanted or not columns:
            return self
        marked = {
            name: replace(s, temporal=True)
            if name in wanted and isinstance(s, NumericSummary)
            else s
            for name, s in columns.items()
        }
        return replace(self, groups={**self.groups, group: marked})


class SummariesAcc:
    """Accumulates the batches of one side (Datasets) into per-column accumulators.

    A column absent from a batch counts as nulls there (as concatenating tables with a promoted
    schema does); a column whose kind differs between batches is refused, unless one side of it
    is all null (a typeless column, e.g. Arrow `null`), which then takes the other's kind.

    Raises:
        DataError: a column changes kind (numeric / categorical) between batches.
    """

    def __init__(self, source: str, distinct_cap: int = SKEW_DISTINCT_CAP) -> None:
        if distinct_cap < 1:
            raise ValueError(f"distinct_cap must be at least 1, got {distinct_cap}")
        self.source = source
        self.cap = distinct_cap
        self.groups: dict[str, dict[str, ColumnAcc]] = {}
        self.group_rows: dict[str, int] = {}
        self.fingerprints: dict[str, None] = {}

    def add(self, batch: Dataset) -> None:
        for fingerprint in batch.fingerprints:
            self.fingerprints[fingerprint] = None
        for group, columns in batch.groups.items():
            accs = self.groups.setdefault(group, {})
            before = self.group_rows.get(group, 0)
            rows = len(next(iter(columns.values()))) if columns else 0
            for name, column in columns.items():
                part: ColumnAcc = (
                    NumericAcc.of(column, self.cap)
                    if column.kind == NUMERIC
                    else CategoricalAcc.of(column)
                )
                if name not in accs:
                    accs[name] = _empty_like(part.kind, before) if before else part
                    if not before:
                        continue
                accs[name] = self._merged(group, name, accs[name], part)
            for name in accs:
                if name not in columns:
                    accs[name] = accs[name].with_nulls(rows)
            self.group_rows[group] = before + rows

    def _merged(self, group: str, name: str, mine: ColumnAcc, part: ColumnAcc) -> ColumnAcc:
        if mine.kind != part.kind:
            if part.nulls == part.rows:
                part = _empty_like(mine.kind, part.rows)
            elif mine.nulls == mine.rows:
                mine = _empty_like(part.kind, mine.rows)
            else:
                raise DataError(
                    f"{self.source}: column '{name}' ({group}) is {mine.kind} in earlier rows "
                    f"and {part.kind} in later ones; give it one type in every file"
                )
        if isinstance(mine, NumericAcc) and isinstance(part, NumericAcc):
            return mine.merge(part, self.cap)
        assert isinstance(mine, CategoricalAcc) and isinstance(part, CategoricalAcc)
        return mine.merge(part)

    def result(self) -> Summaries:
        groups = {
            group: {name: acc.summary() for name, acc in accs.items()}
            for group, accs in self.groups.items()
        }
        return Summaries(groups, self.source, tuple(self.fingerprints))


def summarize_batches(
    batches: Iterable[Dataset],
    source: str,
    *,
    distinct_cap: int = SKEW_DISTINCT_CAP,
    on_batch: Callable[[int], None] | None = None,
) -> Summaries:
    """The Summaries of a side read as `batches` (each a Dataset of the same groups).
    `on_batch(rows)` is called after each batch (a progress hook)."""
    acc = SummariesAcc(source, distinct_cap)
    for batch in batches:
        acc.add(batch)
        if on_batch is not None:
            on_batch(batch.rows(next(iter(batch.groups), FEATURES)))
    return acc.result()


def summaries_of(dataset: Dataset, distinct_cap: int = SKEW_DISTINCT_CAP) -> Summaries:
    """A whole Dataset as Summaries (one batch)."""
    return summarize_batches([dataset], dataset.source, distinct_cap=distinct_cap)


__all__ = [
    "SKEW_DISTINCT_CAP",
    "CategoricalAcc",
    "NumericAcc",
    "Summaries",
    "SummariesAcc",
    "summaries_of",
    "summarize_batches",
]
