"""Adapters: each kind of source (pandas, Arrow, dicts of columns, rows) read into raw columns."""

from __future__ import annotations

import difflib
import importlib
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa

from featuredsl.artifact.contract import masked_column
from featuredsl.compiler.ir import InputColumn
from featuredsl.errors import DataError
from featuredsl.ingest.problems import Problem


@dataclass
class Raw:
    """One column as read from a source, before it is checked against its declared type."""

    values: np.ndarray
    null: np.ndarray | None = None  # True = null (values there are placeholders)
    tz: bool = False  # datetime64 values are UTC instants (a tz-aware source, or numpy's own)
    strings: bool = False  # an object array known to hold only str (nulls masked)
    foreign: str | None = None  # a type featuredsl cannot read, by name


_Getter = Callable[[], Raw]


def loaded(name: str) -> Any:
    """The module `name` if the caller has imported it (None otherwise), waiting for it when
    another thread is importing it right now: `sys.modules` holds a module before its import
    finishes (pyarrow imports pandas lazily, e.g. on a serving thread), and a half-imported
    pandas has no DataFrame yet."""
    if name not in sys.modules:
        return None
    return importlib.import_module(name)


def raw_columns(
    data: Any, source: str, inputs: Sequence[InputColumn]
) -> tuple[dict[Any, _Getter], int]:
    pd = loaded("pandas")
    if pd is not None and isinstance(data, pd.DataFrame):
        return _frame_columns(data, source), len(data)
    arrow = from_polars(data, source)
    if arrow is not None:
        return _arrow_columns(arrow, source), arrow.num_rows
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        return _arrow_columns(data, source), data.num_rows
    if isinstance(data, Mapping):
        return _dict_columns(data, source)
    if isinstance(data, (list, tuple)):
        return _row_columns(data, source, inputs)
    raise DataError(
        f"{source}: cannot read data of type {type(data).__name__}; pass a pandas DataFrame, a "
        "polars DataFrame (extra featuredsl[polars]), a pyarrow Table, a dict of columns, a "
        "list of row dicts, or a .parquet/.csv/.tsv path"
    )


def from_polars(data: Any, source: str = "data") -> pa.Table | None:
    """A polars DataFrame as the Arrow table it holds (polars stores Arrow buffers, so this is
    zero-copy for numbers, bools, strings and timestamps); None for anything else. polars is
    only looked at when the caller has imported it (extra featuredsl[polars])."""
    pl = loaded("polars")
    if pl is None:
        return None
    if isinstance(data, pl.LazyFrame):
        raise DataError(
            f"{source}: is a polars LazyFrame, a query rather than data; call .collect() first"
        )
    if isinstance(data, pl.DataFrame):
        table: pa.Table = data.to_arrow()
        return table
    return None


def _no_duplicates(names: list[Any], source: str) -> None:
    dups = [name for name, k in Counter(names).items() if k > 1]
    if dups:
        raise DataError(
            f"{source}: duplicate column name(s) {', '.join(map(repr, dups))}; "
            "rename them so each column is unambiguous"
        )


def _frame_columns(df: Any, source: str) -> dict[Any, _Getter]:
    names = list(df.columns)
    _no_duplicates(names, source)
    return {n: partial(_series_at, df, i) for i, n in enumerate(names)}


def _series_at(df: Any, i: int) -> Raw:
    return _from_series(df.iloc[:, i])


def _arrow_columns(table: Any, source: str) -> dict[Any, _Getter]:
    names = list(table.schema.names)
    _no_duplicates(names, source)
    return {n: partial(_arrow_at, table, i) for i, n in enumerate(names)}


def _arrow_at(table: Any, i: int) -> Raw:
    return _from_arrow(table.column(i))


def _dict_columns(data: Mapping[Any, Any], source: str) -> tuple[dict[Any, _Getter], int]:
    getters: dict[Any, _Getter] = {}
    lengths: dict[Any, int] = {}
    for name, column in data.items():
        getter, length = _column_getter(column)
        if getter is None:
            raise DataError(
                f"{source}: column {name!r} is a {type(column).__name__}, not a column of values; "
                "pass a list/array per column, or a list of row dicts for single rows"
            )
        getters[name], lengths[name] = getter, length
    if len(set(lengths.values())) > 1:
        sizes = ", ".join(f"{n!r}: {k}" for n, k in lengths.items())
        raise DataError(f"{source}: columns have different lengths ({sizes}); align them")
    return getters, next(iter(lengths.values()), 0)


def _column_getter(column: Any) -> tuple[_Getter | None, int]:
    pd = loaded("pandas")
    if isinstance(column, np.ndarray):
        return (lambda: _from_numpy(column)), len(column) if column.ndim else 0
    if isinstance(column, (pa.Array, pa.ChunkedArray)):
        return (lambda: _from_arrow(column)), len(column)
    if pd is not None and isinstance(
        column, (pd.Series, pd.Index, pd.api.extensions.ExtensionArray)
    ):
        return (lambda: _from_series(pd.Series(column, copy=False))), len(column)
    if isinstance(column, (list, tuple)):
        return (lambda: Raw(object_array(column))), len(column)
    return None, 0


def _row_columns(
    rows: Sequence[Any], source: str, inputs: Sequence[InputColumn]
) -> tuple[dict[Any, _Getter], int]:
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise DataError(
                f"{source}: row {i} is a {type(row).__name__}, not a mapping of column -> value; "
                "pass one dict per row"
            )
    names: dict[Any, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    declared = {c.name for c in inputs}
    for i, row in enumerate(rows):
        missing = [n for n in declared if n not in row and n in names]
        if missing:
            raise DataError(
                f"{source}: row {i} has no key {sorted(missing)[0]!r} (other rows have it); "
                "send every declared column in every row, with None for a null"
            )
    getters: dict[Any, _Getter] = {n: partial(_row_values, rows, n) for n in names}
    if not rows:  # an empty request: zero rows of every declared column
        getters = {c.name: (lambda: Raw(np.empty(0, dtype=object))) for c in inputs}
    return getters, len(rows)


def _row_values(rows: Sequence[Mapping[Any, Any]], name: Any) -> Raw:
    return Raw(object_array([row[name] for row in rows]))


def object_array(values: Sequence[Any]) -> np.ndarray:
    # fromiter keeps nested sequences as single objects instead of building a 2-D array.
    return np.fromiter(values, dtype=object, count=len(values))


def given_mask(raw: Raw, name: str, length: int) -> np.ndarray:
    mask = np.asarray(raw.values)
    has_nulls = raw.null is not None and bool(np.asarray(raw.null).any())
    if mask.dtype.kind != "b" or mask.shape != (length,) or has_nulls:
        raise Problem(
            None,
            f"must be a bool array of {length} rows, got {mask.dtype} {mask.shape}",
            "pass True where the value is null",
        )
    return mask


def check_names(names: list[Any], inputs: Sequence[InputColumn], source: str, extra: str) -> None:
    present = set(names)
    misplaced = [n for n in names if isinstance(n, str) and masked_column(n) is not None]
    masks = {c.mask_name for c in inputs if c.mask_name}
    for name in misplaced:
        if name not in masks:
            raise DataError(
                f"{source}: column {name!r} is a null mask, but {name[: -len('.is_null')]!r} is not a "
                "nullable int, bool, string or timestamp input (floats use NaN for null)"
            )
    missing = [c.name for c in inputs if c.name not in present]
    declared = ", ".join(c.name for c in inputs)
    if missing:
        # Case-insensitive close matches: 'Age' for 'age' is the commonest slip.
        folded = {n.casefold(): n for n in names if isinstance(n, str)}
        parts = []
        for name in missing:
            close = difflib.get_close_matches(name.casefold(), list(folded), n=1)
            guess = f" (did you mean {folded[close[0]]!r}?)" if close else ""
            parts.append(f"{name!r}{guess}")
        raise DataError(
            f"{source}: missing column(s) {', '.join(parts)}; the spec's inputs are: {declared}"
        )
    if extra == "error":
        unexpected = [n for n in names if n not in {c.name for c in inputs} | masks]
        if unexpected:
            raise DataError(
                f"{source}: unexpected column(s) {', '.join(map(repr, unexpected))}; they are not "
                f"declared inputs ({declared}): drop them, or declare them in the spec"
            )


# ----------------------------------------------------------------------------- adapters


def _from_numpy(values: np.ndarray) -> Raw:
    if values.ndim != 1:
        return Raw(values.reshape(-1)[:0], foreign=f"a {values.ndim}-D array (need 1-D)")
    if values.dtype.kind == "U":
        return Raw(values.astype(object), strings=True)
    if values.dtype.kind == "T":  # StringDType: its na_object (if any) becomes an object
        return Raw(values.astype(object))
    if values.dtype.kind == "M":
        # numpy's datetime64 counts units since the Unix epoch and has no zone: an array of
        # them is numpy's form of instants (UTC), as a tz-aware pandas column's `.values` is.
        return Raw(values, tz=True)
    return Raw(values)


def _from_series(s: Any) -> Raw:
    pd = sys.modules["pandas"]
    dtype = s.dtype
    if isinstance(dtype, np.dtype):
        if dtype.kind == "M":  # a naive pandas column: pandas could have carried a zone
            return Raw(s.to_numpy())
        return _from_numpy(s.to_numpy())
    if isinstance(dtype, pd.DatetimeTZDtype):
        # tz_convert(None) gives the UTC wall clock: the instant itself, at the column's unit.
        values = s.dt.tz_convert(None).to_numpy()
        null = np.isnat(values)
        return Raw(values, null if null.any() else None, tz=True)
    if isinstance(dtype, pd.ArrowDtype):
        return _from_arrow(pa.chunked_array(s.array.__arrow_array__()))
    if isinstance(dtype, pd.StringDtype):
        null = s.isna().to_numpy()
        return Raw(
            s.to_numpy(dtype=object, na_value=""), null if null.any() else None, strings=True
        )
    numpy_dtype = getattr(dtype, "numpy_dtype", None)
    if numpy_dtype is not None and numpy_dtype.kind in "iufb":  # Int64, Float64, boolean, ...
        null = s.isna().to_numpy()
        placeholder = False if numpy_dtype.kind == "b" else 0
        values = s.to_numpy(dtype=numpy_dtype, na_value=placeholder)
        return Raw(values, null if null.any() else None)
    # Categorical and other extension types: their values as objects, nulls as None.
    return Raw(np.asarray(s.astype(object), dtype=object))


def _from_arrow(arr: Any) -> Raw:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks else pa.array([], type=arr.type)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    t = arr.type
    null = arr.is_null().to_numpy(zero_copy_only=False) if arr.null_count else None
    if pa.types.is_null(t):
        return Raw(np.full(len(arr), None, dtype=object), np.ones(len(arr), dtype=bool))
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t):
        zero = False if pa.types.is_boolean(t) else 0
        return Raw(arr.fill_null(zero).to_numpy(zero_copy_only=False), null)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return Raw(arr.fill_null("").to_numpy(zero_copy_only=False), null, strings=True)
    if pa.types.is_timestamp(t):
        ints = arr.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
        return Raw(ints.view(f"datetime64[{t.unit}]"), null, tz=t.tz is not None)
    return Raw(np.empty(0), null, foreign=f"arrow type {t}")
