"""Leakage audit of a training table: does any row or column know something from after the label time?

Three checks (docs/pit.md explains each and how to read the report):

1. Future rows: for each declared feature-time column, rows whose feature time is after the label
   time. A point-in-time join never produces one; a plain merge does.
2. Target leaks: numeric and boolean columns that predict the label almost perfectly on their own
   (single-feature ROC AUC for a binary label, |Spearman| otherwise), and columns whose *missingness*
   does. A copy or a cousin of the label hides this way.
3. Post-label columns: timestamp columns whose every value is after the label time (e.g. a
   cancellation date), and, per feature-time column, columns that only have values in the rows whose
   feature time is after the label time (they came from the future side of a bad join).
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.stats import rankdata

from featuredsl.errors import DataError
from featuredsl.joins.pit import TimeColumn, column, time_micros

__all__ = [
    "AuditReport",
    "ColumnScore",
    "FutureExample",
    "FutureRows",
    "PostLabelColumn",
    "Thresholds",
    "audit",
]


@dataclass(frozen=True)
class Thresholds:
    auc: float = 0.99  # flag when max(AUC, 1 - AUC) >= this
    corr: float = 0.99  # flag when |Spearman| >= this
    min_rows: int = 20  # fewer usable rows than this: scored but never flagged


@dataclass(frozen=True)
class FutureExample:
    row: int  # 0-based row number in the table
    label_time: str
    feature_time: str


@dataclass(frozen=True)
class FutureRows:
    feature_time: str
    checked: int  # rows where both times are present
    count: int  # rows whose feature time is after the label time
    examples: tuple[FutureExample, ...]

    @property
    def flagged(self) -> bool:
        return self.count > 0


@dataclass(frozen=True)
class ColumnScore:
    column: str
    signal: str  # "value" or "missingness"
    metric: str  # "auc" or "spearman"
    score: float  # the raw AUC or Spearman rho
    strength: float  # max(AUC, 1 - AUC) or |rho|: 1.0 is a perfect predictor
    rows: int
    flagged: bool


@dataclass(frozen=True)
class PostLabelColumn:
    column: str
    reason: str  # "all_after_label_time" or "only_in_future_rows"
    before: int  # values known at the label time (rows at or before it)
    after: int  # values only known later
    feature_time: str | None = None  # the feature-time column that split the rows, if any


@dataclass(frozen=True)
class AuditReport:
    rows: int
    label_time: str
    feature_times: tuple[str, ...]
    label: str | None
    label_kind: str | None  # "binary", "continuous" or None when not scored
    thresholds: Thresholds
    future_rows: tuple[FutureRows, ...]
    scores: tuple[ColumnScore, ...]  # every scored column, strongest first
    post_label_columns: tuple[PostLabelColumn, ...]
    notes: tuple[str, ...]

    @property
    def target_leaks(self) -> tuple[ColumnScore, ...]:
        return tuple(s for s in self.scores if s.flagged)

    @property
    def leaky(self) -> bool:
        return bool(
            any(f.flagged for f in self.future_rows) or self.target_leaks or self.post_label_columns
        )

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["leaky"] = self.leaky
        for entry, finding in zip(out["future_rows"], self.future_rows, strict=True):
            entry["flagged"] = finding.flagged
        return out


def audit(
    table: Any,
    *,
    label_time: str,
    feature_times: tuple[str, ...] | list[str] = (),
    label: str | None = None,
    thresholds: Thresholds | None = None,
    max_examples: int = 5,
    name: str = "table",
    timestamp_unit: str | None = None,
) -> AuditReport:
    """Audit a pandas DataFrame or pyarrow Table for leakage (see the module docstring).

    `name` is how error messages refer to the table (the CLI passes the file name). Time
    columns are tz-aware timestamps or plain integers counting `timestamp_unit` ("s", "ms",
    "us", "ns") since the epoch; plain integers without a unit are a DataError.
    """
    limits = thresholds or Thresholds()
    data = _as_arrow(table)
    unit = timestamp_unit
    lt = time_micros(column(data, label_time, name), name, label_time, unit)
    fts = {ft: time_micros(column(data, ft, name), name, ft, unit) for ft in feature_times}
    if label is not None:
        column(data, label, name)  # a missing label column is an error, not a silent skip
    skip = {label_time, *feature_times, *([label] if label else [])}
    notes: list[str] = []
    if not lt.valid.all():
        notes.append(f"{int((~lt.valid).sum())} rows without a label time were not time-checked")
    label_kind, scores = _score_columns(data, label, skip, limits, notes)
    post = _timestamp_columns_after(data, lt, skip, notes)
    for col, ft in fts.items():
        post += _columns_only_in_future_rows(data, lt, col, ft, skip)
    return AuditReport(
        rows=data.num_rows,
        label_time=label_time,
        feature_times=tuple(feature_times),
        label=label,
        label_kind=label_kind,
        thresholds=limits,
        future_rows=tuple(_future_rows(col, lt, ft, max_examples) for col, ft in fts.items()),
        scores=scores,
        post_label_columns=tuple(post),
        notes=tuple(notes),
    )


def _as_arrow(table: Any) -> pa.Table:
    if isinstance(table, pa.Table):
        return table
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(table, pd.DataFrame):
        try:
            return pa.Table.from_pandas(table, preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError) as err:
            raise DataError(f"table cannot be converted to Arrow: {err}") from None
    raise DataError(
        f"table must be a pandas DataFrame or a pyarrow Table, got {type(table).__name__}"
    )


# ---------------------------------------------------------------- 1. future rows


def _future_rows(name: str, lt: TimeColumn, ft: TimeColumn, max_examples: int) -> FutureRows:
    both = lt.valid & ft.valid
    future = np.flatnonzero(both & (ft.micros > lt.micros))
    examples = tuple(
        FutureExample(int(i), _iso(lt.micros[i]), _iso(ft.micros[i])) for i in future[:max_examples]
    )
    return FutureRows(name, int(both.sum()), len(future), examples)


def _iso(micros: np.integer) -> str:
    """ISO 8601 in UTC, with the fraction only when there is one: 2024-03-01T05:00:00Z."""
    text = str(np.datetime64(int(micros), "us"))
    return f"{text.removesuffix('.000000')}Z"


# ---------------------------------------------------------------- 2. target leaks


def _score_columns(
    data: pa.Table, label: str | None, skip: set[str], limits: Thresholds, notes: list[str]
) -> tuple[str | None, tuple[ColumnScore, ...]]:
    if label is None:
        return None, ()
    target = _target(_flat(data.column(label)), label, notes)
    if target is None:
        return None, ()
    kind, y, y_ok = target
    scores: list[ColumnScore] = []
    for name in data.column_names:
        if name in skip:
            continue
        values = _flat(data.column(name))
        present = _present(values)
        if _is_numeric(values.type):
            x = (
                values.cast(pa.float64(), safe=False)
                .fill_null(np.nan)
                .to_numpy(zero_copy_only=False)
            )
            scores += _score(name, "value", x, present & y_ok, y, kind, limits)
        if not present.all():
            missing = (~present).astype(np.float64)
            scores += _score(name, "missingness", missing, y_ok, y, kind, limits)
    scores.sort(key=lambda s: (-s.strength, s.column, s.signal))
    return kind, tuple(scores)


def _flat(arr: pa.ChunkedArray) -> pa.Array:
    flat = pa.concat_arrays(arr.chunks) if arr.num_chunks else pa.array([], type=arr.type)
    return flat.dictionary_decode() if pa.types.is_dictionary(flat.type) else flat


def _is_numeric(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_decimal(kind)
    )


def _present(values: pa.Array) -> np.ndarray:
    """Non-null and, for floats, not NaN (pandas' null)."""
    present = values.is_valid().to_numpy(zero_copy_only=False)
    if pa.types.is_floating(values.type):
        present &= ~pc.is_nan(values).fill_null(True).to_numpy(zero_copy_only=False)
    return present


def _target(
    values: pa.Array, name: str, notes: list[str]
) -> tuple[str, np.ndarray, np.ndarray] | None:
    """The label as ("binary", 0/1, present) or ("continuous", values, present), or None with a note."""
    present = _present(values)
    distinct = pc.unique(values.filter(pa.array(present))).sort()
    if len(distinct) < 2:
        notes.append(
            f"label {name!r} has fewer than two distinct values: target-leak check skipped"
        )
        return None
    if len(distinct) == 2:
        positive = pc.equal(values, distinct[1]).fill_null(False).to_numpy(zero_copy_only=False)
        return "binary", positive.astype(np.float64), present
    if _is_numeric(values.type):
        y = values.cast(pa.float64(), safe=False).fill_null(np.nan).to_numpy(zero_copy_only=False)
        return "continuous", y, present
    notes.append(f"label {name!r} is neither binary nor numeric: target-leak check skipped")
    return None


def _score(
    name: str,
    signal: str,
    x: np.ndarray,
    ok: np.ndarray,
    y: np.ndarray,
    kind: str,
    limits: Thresholds,
) -> list[ColumnScore]:
    xs, ys = x[ok], y[ok]
    if kind == "binary":
        metric, score, threshold = "auc", _auc(xs, ys), limits.auc
        strength = max(score, 1.0 - score)
    else:
        metric, score, threshold = "spearman", _spearman(xs, ys), limits.corr
        strength = abs(score)
    if np.isnan(score):
        return []  # one class only, or a constant column: nothing to measure
    flagged = bool(strength >= threshold and len(xs) >= limits.min_rows)
    return [ColumnScore(name, signal, metric, float(score), float(strength), len(xs), flagged)]


def _auc(x: np.ndarray, positive: np.ndarray) -> float:
    """ROC AUC of score x for a 0/1 label by the rank-sum (Mann-Whitney) formula; ties count half."""
    n_pos = float(positive.sum())
    n_neg = float(len(positive) - n_pos)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(x)
    return float((ranks[positive == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 2:
        return float("nan")
    rx, ry = rankdata(x), rankdata(y)
    rx -= rx.mean()
    ry -= ry.mean()
    denom = np.sqrt((rx * rx).sum() * (ry * ry).sum())
    return float((rx * ry).sum() / denom) if denom > 0 else float("nan")


# ---------------------------------------------------------------- 3. post-label columns


def _timestamp_columns_after(
    data: pa.Table, lt: TimeColumn, skip: set[str], notes: list[str]
) -> list[PostLabelColumn]:
    """Timestamp columns all of whose values lie after the label time: the value did not exist yet."""
    found = []
    for name in data.column_names:
        kind = data.schema.field(name).type
        if name in skip or not pa.types.is_timestamp(kind):
            continue
        if kind.tz is None:
            notes.append(
                f"column {name!r} is a time-zone-naive timestamp: not compared with the label time"
            )
            continue
        try:
            ts = time_micros(data.column(name), "table", name)
        except DataError as err:  # e.g. nanoseconds: this column is only inspected, not required
            notes.append(f"column {name!r} not compared with the label time: {err}")
            continue
        both = ts.valid & lt.valid
        after = int((both & (ts.micros > lt.micros)).sum())
        before = int(both.sum()) - after
        if after and not before:
            found.append(PostLabelColumn(name, "all_after_label_time", before, after))
    return found


def _columns_only_in_future_rows(
    data: pa.Table, lt: TimeColumn, ft_name: str, ft: TimeColumn, skip: set[str]
) -> list[PostLabelColumn]:
    """Columns with values only in rows whose feature time is after the label time.

    Such a column is null wherever the feature was known in time, so every value it has came from
    the future: typically a feature table whose history starts after the label rows.
    """
    both = lt.valid & ft.valid
    future = both & (ft.micros > lt.micros)
    in_time = both & ~future
    if not future.any() or not in_time.any():
        return []
    found = []
    for name in data.column_names:
        if name in skip:
            continue
        present = _present(_flat(data.column(name)))
        before, after = int((present & in_time).sum()), int((present & future).sum())
        if after and not before:
            found.append(PostLabelColumn(name, "only_in_future_rows", before, after, ft_name))
    return found
