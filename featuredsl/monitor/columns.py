"""Columns to monitor: one representation for DataFrames, Arrow tables, feeds and logs.

A column is numeric (float64 values) or categorical (str values), plus a null mask. Numeric
nulls are NaN or an Arrow/pandas null; strings and bools use the mask, never a sentinel.
Integers become float64 here: statistics only, so values beyond 2**53 may round.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featuredsl.artifact.contract import MASK_SUFFIX
from featuredsl.errors import DataError
from featuredsl.ingest.sources import from_polars

Kind = Literal["numeric", "categorical"]
NUMERIC: Kind = "numeric"
CATEGORICAL: Kind = "categorical"

# Groups a dataset can carry; skew compares a group only with the same group on the other side.
FEATURES = "features"
INPUTS = "inputs"
SCORES = "scores"
NULL_SUFFIX = MASK_SUFFIX


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    values: np.ndarray  # float64 (numeric) or object array of str (categorical)
    null: np.ndarray  # bool, True = null
    temporal: bool = False  # numeric values are instants: microseconds since the epoch, UTC

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class Dataset:
    """Named groups of columns ("features", "inputs", "scores") and where they came from."""

    groups: Mapping[str, Mapping[str, Column]]
    source: str = "data"
    fingerprints: tuple[str, ...] = field(default=())

    def rows(self, group: str = FEATURES) -> int:
        columns = self.groups.get(group, {})
        return len(next(iter(columns.values()))) if columns else 0


def with_temporal(dataset: Dataset, names: Iterable[str], group: str = INPUTS) -> Dataset:
    """`dataset` with the numeric columns `names` of `group` marked as instants (int64
    microseconds since the epoch: a canonical feed or a serving log does not say which of its
    int64 columns are timestamps; the spec does), so reports show dates and time advice."""
    wanted = set(names)
    columns = dataset.groups.get(group)
    if not wanted or not columns:
        return dataset
    marked = {
        name: replace(column, temporal=True)
        if name in wanted and column.kind == NUMERIC
        else column
        for name, column in columns.items()
    }
    return replace(dataset, groups={**dataset.groups, group: marked})


def column_from_array(name: str, array: Any, null: Any = None, *, where: str = "") -> Column:
    """Classify and normalise one array; `null` is an optional extra mask (True = null)."""
    values = np.asarray(array)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise DataError(
            f"{where}column '{name}' has shape {values.shape}; expected one value per row"
        )
    mask = np.zeros(len(values), dtype=bool) if null is None else np.asarray(null, dtype=bool)
    if mask.ndim == 2 and mask.shape[1] == 1:
        mask = mask[:, 0]
    if mask.shape != values.shape:
        raise DataError(f"{where}null mask of column '{name}' does not match its length")
    kind = values.dtype.kind
    if kind in "fiu":
        floats = values.astype(np.float64)
        mask = mask | np.isnan(floats)
        floats = np.where(mask, np.nan, floats)
        return Column(name, NUMERIC, floats, mask)
    if kind in "mM":
        # Timestamps/durations: their int64 count of units since the epoch is what drifts;
        # instants in microseconds, so that reports can show them as dates.
        mask = mask | np.isnat(values)
        if kind == "M":
            values = values.astype("datetime64[us]")
        floats = values.view(np.int64).astype(np.float64)
        return Column(name, NUMERIC, np.where(mask, np.nan, floats), mask, temporal=kind == "M")
    if kind == "b":
        labels = np.where(values, "true", "false").astype(object)
        return Column(name, CATEGORICAL, labels, mask)
    if kind in "US":
        text = values.astype(str).astype(object)
        return Column(name, CATEGORICAL, text, mask)
    if kind == "O":
        return _object_column(name, values, mask, where)
    raise DataError(f"{where}column '{name}' has unsupported dtype {values.dtype}")


def _object_column(name: str, values: np.ndarray, mask: np.ndarray, where: str) -> Column:
    is_none = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
    mask = mask | is_none
    present = values[~mask]
    if all(isinstance(v, str) for v in present):
        text = values.copy()
        text[mask] = ""
        return Column(name, CATEGORICAL, text, mask)
    if all(isinstance(v, (bool, np.bool_)) for v in present):
        labels = np.array(
            ["true" if v else "false" for v in np.where(mask, False, values)], dtype=object
        )
        return Column(name, CATEGORICAL, labels, mask)
    if all(isinstance(v, (int, float, np.integer, np.floating)) for v in present):
        floats = np.array([np.nan if m else float(v) for v, m in zip(values, mask, strict=True)])
        return column_from_array(name, floats, mask, where=where)
    bad = next(v for v in present if not isinstance(v, str))
    raise DataError(
        f"{where}column '{name}' mixes strings with {type(bad).__name__} values (e.g. {bad!r})"
    )


def null_column(name: str, kind: Kind, rows: int) -> Column:
    """A column of `rows` nulls of the given kind."""
    values = np.full(rows, np.nan) if kind == NUMERIC else np.full(rows, "", dtype=object)
    return Column(name, kind, values, np.ones(rows, dtype=bool))


def column_from_arrow(name: str, array: pa.Array | pa.ChunkedArray, *, where: str = "") -> Column:
    """One Arrow column; the Arrow validity bitmap is the null mask."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    typ = array.type
    if pa.types.is_dictionary(typ):
        array = array.dictionary_decode()
        typ = array.type
    null = np.asarray(pc.is_null(array).to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_null(typ):
        # A column with no value at all (a CSV column left empty, Parquet written from all None):
        # a column of nulls, compared as whatever type the other side has (skew retypes it).
        return null_column(name, NUMERIC, len(array))
    if pa.types.is_boolean(typ):
        filled = array.fill_null(False).to_numpy(zero_copy_only=False)
        return column_from_array(name, filled, null, where=where)
    if pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ):
        floats = pc.cast(array, pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)
        return column_from_array(name, floats, null, where=where)
    if pa.types.is_timestamp(typ) or pa.types.is_date(typ) or pa.types.is_duration(typ):
        if pa.types.is_timestamp(typ):
            # Statistics only: nanoseconds are dropped (truncated), as for datetime64 above.
            array = pc.cast(array, pa.timestamp("us", tz=typ.tz), safe=False)
        ints = pc.cast(array, pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
        column = column_from_array(name, ints.astype(np.float64), null, where=where)
        return replace(column, temporal=pa.types.is_timestamp(typ))
    if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_string_view(typ):
        text = array.fill_null("").to_numpy(zero_copy_only=False).astype(object)
        return Column(name, CATEGORICAL, text, null)
    raise DataError(f"{where}column '{name}' has unsupported type {typ}")


def columns_from_table(table: pa.Table, *, where: str = "") -> dict[str, Column]:
    return {
        name: column_from_arrow(name, table.column(name), where=where)
        for name in table.column_names
    }


def columns_from_feed(feed: Mapping[str, Any], *, where: str = "") -> dict[str, Column]:
    """An ONNX feed dict: "<col>.is_null" entries become the masks of their columns."""
    columns: dict[str, Column] = {}
    for name, array in feed.items():
        if name.endswith(NULL_SUFFIX) and name[: -len(NULL_SUFFIX)] in feed:
            continue
        columns[name] = column_from_array(name, array, feed.get(name + NULL_SUFFIX), where=where)
    return columns


def columns_from_matrix(names: Iterable[str], matrix: Any, *, where: str = "") -> dict[str, Column]:
    """A float [N, F] feature matrix with one name per column."""
    data = np.asarray(matrix, dtype=np.float64)
    names = tuple(names)
    if data.ndim != 2 or data.shape[1] != len(names):
        raise DataError(
            f"{where}feature matrix of shape {data.shape} does not match {len(names)} names"
        )
    return {name: column_from_array(name, data[:, j], where=where) for j, name in enumerate(names)}


def columns_from_any(data: Any, *, where: str = "") -> dict[str, Column]:
    """DataFrame (pandas or polars), Arrow table, dict of arrays (feed) or list of dict rows."""
    arrow = from_polars(data, where.rstrip(": ") or "data")
    if arrow is not None:
        data = arrow
    if isinstance(data, pa.Table):
        return columns_from_table(data, where=where)
    if isinstance(data, pa.RecordBatch):
        return columns_from_table(pa.Table.from_batches([data]), where=where)
    if isinstance(data, Mapping):
        return columns_from_feed(data, where=where)
    if isinstance(data, list):
        return columns_from_table(pa.Table.from_pylist(data), where=where)
    module = type(data).__module__
    if module.startswith("pandas"):
        return {
            str(name): column_from_array(str(name), _pandas_values(data[name]), where=where)
            for name in data.columns
        }
    raise DataError(
        f"{where}cannot read {type(data).__name__}; pass a DataFrame, Arrow table or dict of arrays"
    )


def _pandas_values(series: Any) -> np.ndarray:
    if getattr(series.dtype, "kind", "") == "M":
        # tz-aware datetimes: their UTC instant, in the unit of the column.
        return np.asarray(series.to_numpy(dtype="datetime64[us]"))
    # Nullable extension dtypes (Int64, string, boolean) go through object with None for NA.
    if hasattr(series.dtype, "na_value") or series.dtype == object:
        values = series.astype(object).to_numpy()
        return np.array([None if _is_na(v) else v for v in values], dtype=object)
    return np.asarray(series.to_numpy())


def _is_na(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, pd.NA raises, NaT
    except TypeError:
        return True


def as_dataset(data: Any, *, group: str = FEATURES, source: str = "data") -> Dataset:
    if isinstance(data, Dataset):
        return data
    return Dataset({group: columns_from_any(data)}, source=source)
