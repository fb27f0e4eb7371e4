"""User data -> the canonical feed: one 1-D numpy array per declared input column.

The feed is the one data boundary every runtime shares (fit, the numpy module, the ONNX graph,
the parity runner). Per `InputColumn(name, dtype, nullable)`:

    float      feed[name] float64; NaN is null
    int        feed[name] int64
    bool       feed[name] bool
    string     feed[name] numpy object array of Python str
    timestamp  feed[name] int64 microseconds since 1970-01-01T00:00:00Z (a UTC instant)

A nullable non-float column also gets `feed[name + ".is_null"]` (bool, True = null); the value
array holds a placeholder under the mask (0, False, "", 0) so that "" or 0 never stands for null.

Accepted data: a pandas DataFrame (numpy, nullable extension, string, categorical, tz-aware
datetime and pyarrow-backed columns), a pyarrow Table or RecordBatch, a dict of columns
(numpy arrays, lists, pandas Series, pyarrow arrays), a list of row dicts (serving requests),
or a path to a Parquet or CSV file. Nothing is coerced silently: a value that does not fit its
declared type exactly is a `DataError` naming the source, the column, the first bad row and
its value, and saying what to do. See docs/fit.md for the rules.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featuredsl.artifact.contract import masked_column
from featuredsl.compiler.ir import InputColumn
from featuredsl.compiler.types import DType
from featuredsl.errors import DataError

Feed = dict[str, np.ndarray]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_EXACT_FLOAT_INT = 2**53  # every integer of at most this magnitude is exact in float64
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_ONE_MICROSECOND = _dt.timedelta(microseconds=1)
_MAX_SHOWN_PROBLEMS = 20

# Micro-seconds per unit of a numpy/arrow time unit (coarser units) ...
_COARSER_US = {
    "us": 1,
    "ms": 1_000,
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
    "D": 86_400_000_000,
    "W": 604_800_000_000,
}
# ... and units per micro-second (finer units).
_FINER_US = {"ns": 1_000, "ps": 1_000_000, "fs": 1_000_000_000, "as": 1_000_000_000_000}

_HINTS = {
    DType.FLOAT: "pass numbers (floats, or integers that float64 holds exactly)",
    DType.INT: "pass integers (floats only when they are whole numbers within int64)",
    DType.BOOL: "pass True/False; convert 0/1 or text explicitly, e.g. df['{name}'] == 'yes'",
    DType.STRING: "pass str values; convert explicitly (e.g. df['{name}'].astype(str)) "
    "if the values are really labels",
    DType.TIMESTAMP: "pass tz-aware datetimes or int64 microseconds since the epoch",
}
_NAIVE = (
    "holds time-zone-naive timestamps (first at row {row}: {value}); featuredsl needs instants: "
    "localize them (e.g. df['{name}'].dt.tz_localize('UTC')) or pass int64 microseconds since "
    "the epoch"
)


# ----------------------------------------------------------------------------- public API


def to_feed(
    data: Any,
    inputs: Sequence[InputColumn],
    *,
    source: str = "data",
    extra: str = "ignore",
) -> Feed:
    """Convert `data` into the feed for `inputs`; raise DataError on anything that does not fit.

    `extra="ignore"` (training) skips undeclared columns; `extra="error"` (serving) rejects them.
    """
    if extra not in ("ignore", "error"):
        raise ValueError(f"extra must be 'ignore' or 'error', not {extra!r}")
    if isinstance(data, (str, Path)):
        source = str(data) if source == "data" else source
        data = read_table(data, inputs, source=source)
    columns, length = _columns(data, source, inputs)
    _check_names(list(columns), inputs, source, extra)
    feed: Feed = {}
    problems: list[str] = []
    for col in inputs:
        try:
            values, null = _convert(columns[col.name](), col)
        except _Problem as problem:
            problems.append(problem.render(col.name))
            continue
        if len(values) != length:  # a defensive check: every adapter keeps the row count
            problems.append(f"column {col.name!r} has {len(values)} rows, expected {length}")
            continue
        if col.mask_name is not None and col.mask_name in columns:
            # The data carries the feed's own null mask (e.g. a feed passed back in): honour it,
            # so a placeholder under the mask is never read as a real value.
            try:
                given = _given_mask(columns[col.mask_name](), col.mask_name, length)
            except _Problem as problem:
                problems.append(problem.render(col.mask_name))
                continue
            null = given if null is None else (null | given)
            values = values.copy()
            values[given] = _PLACEHOLDER[col.dtype]
        feed[col.name] = values
        if col.mask_name is not None:
            feed[col.mask_name] = null if null is not None else np.zeros(length, dtype=bool)
    if problems:
        raise DataError(_join_problems(source, problems))
    return feed


def read_table(
    path: str | Path, inputs: Sequence[InputColumn] | None = None, *, source: str | None = None
) -> pa.Table:
    """Read a Parquet or CSV file into a pyarrow Table.

    CSV columns declared in `inputs` are read as text and parsed by their declared type (so a
    string column keeps "00123"); an empty cell is null, a quoted empty cell `""` is the empty
    string; timestamps must be ISO-8601 with an offset ('Z' or '+01:00').
    """
    where = source or str(path)
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{where}: no such file; check the path")
    name = p.name.lower()
    if name.endswith((".parquet", ".pq")):
        return _read_parquet(p, where)
    if name.endswith((".csv", ".csv.gz", ".csv.bz2", ".csv.zst")):
        return _read_csv(p, inputs or (), where)
    raise DataError(f"{where}: unknown file type; featuredsl reads .parquet and .csv files")


def feed_length(feed: Mapping[str, np.ndarray]) -> int:
    """Row count of a feed (0 for an empty feed); every array must have it."""
    lengths = {len(v) for v in feed.values()}
    if len(lengths) > 1:
        raise DataError(f"feed arrays have different lengths: {sorted(lengths)}")
    return lengths.pop() if lengths else 0


def take(feed: Mapping[str, np.ndarray], indices: Any) -> Feed:
    """The rows `indices` (an index array, a slice or a bool mask) of every array of a feed."""
    index = indices if isinstance(indices, slice) else np.asarray(indices)
    return {name: values[index] for name, values in feed.items()}


# ----------------------------------------------------------------------------- problems


class _Problem(Exception):
    """One column's first bad row: rendered into the DataError the caller raises."""

    def __init__(self, row: int | None, message: str, hint: str) -> None:
        super().__init__(message)
        self.row = row
        self.message = message
        self.hint = hint

    def render(self, name: str) -> str:
        # A message about the whole column ("holds ...") names its first bad row itself.
        column_level = self.row is None or self.message.startswith("holds ")
        where = f"column {name!r}" if column_level else f"column {name!r}, row {self.row}"
        if self.message.startswith("holds "):
            return f"{where} {self.message}"
        hint = self.hint.replace("{name}", name)
        return f"{where}: {self.message}" + (f"; {hint}" if hint else "")


class _Issues:
    """Problems found in one column; the one at the smallest row wins.

    Templates may say {name} (the column) and {value} (the bad value); they are filled by
    replacement, never str.format, so braces in user data are harmless.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.found: list[_Problem] = []

    def add(self, row: int | None, message: str, hint: str, value: str | None = None) -> None:
        text = message.replace("{name}", self.name).replace("{row}", str(row))
        if value is not None:  # last, so that text inside the value is never substituted
            text = text.replace("{value}", value)
        self.found.append(_Problem(row, text, hint))

    def at(
        self,
        bad: np.ndarray,
        rows: np.ndarray | None,
        show: Callable[[int], str],
        message: str,
        hint: str,
    ) -> None:
        """Record the first True of `bad`; `rows` maps its positions to feed rows (None = same)."""
        if bad.any():
            pos = int(np.argmax(bad))
            row = pos if rows is None else int(rows[pos])
            self.add(row, message, hint, show(pos))

    def raise_first(self) -> None:
        if self.found:
            raise min(self.found, key=lambda p: -1 if p.row is None else p.row)


def _join_problems(source: str, problems: list[str]) -> str:
    if len(problems) == 1:
        return f"{source}: {problems[0]}"
    shown = [f"  - {p}" for p in problems[:_MAX_SHOWN_PROBLEMS]]
    if len(problems) > _MAX_SHOWN_PROBLEMS:
        shown.append(f"  ... and {len(problems) - _MAX_SHOWN_PROBLEMS} more")
    return f"{source}: {len(problems)} columns have bad values:\n" + "\n".join(shown)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_name(value: Any) -> str:
    return type(value).__name__


# ----------------------------------------------------------------------------- sources


@dataclass
class _Raw:
    """One column as read from a source, before it is checked against its declared type."""

    values: np.ndarray
    null: np.ndarray | None = None  # True = null (values there are placeholders)
    tz: bool = False  # datetime64 values are UTC instants from a tz-aware source
    strings: bool = False  # an object array known to hold only str (nulls masked)
    foreign: str | None = None  # a type featuredsl cannot read, by name


_Getter = Callable[[], _Raw]


def _columns(
    data: Any, source: str, inputs: Sequence[InputColumn]
) -> tuple[dict[Any, _Getter], int]:
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(data, pd.DataFrame):
        return _frame_columns(data, source), len(data)
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        return _arrow_columns(data, source), data.num_rows
    if isinstance(data, Mapping):
        return _dict_columns(data, source)
    if isinstance(data, (list, tuple)):
        return _row_columns(data, source, inputs)
    raise DataError(
        f"{source}: cannot read data of type {type(data).__name__}; pass a pandas DataFrame, a "
        "pyarrow Table, a dict of columns, a list of row dicts, or a .parquet/.csv path"
    )


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


def _series_at(df: Any, i: int) -> _Raw:
    return _from_series(df.iloc[:, i])


def _arrow_columns(table: Any, source: str) -> dict[Any, _Getter]:
    names = list(table.schema.names)
    _no_duplicates(names, source)
    return {n: partial(_arrow_at, table, i) for i, n in enumerate(names)}


def _arrow_at(table: Any, i: int) -> _Raw:
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
    pd = sys.modules.get("pandas")
    if isinstance(column, np.ndarray):
        return (lambda: _from_numpy(column)), len(column) if column.ndim else 0
    if isinstance(column, (pa.Array, pa.ChunkedArray)):
        return (lambda: _from_arrow(column)), len(column)
    if pd is not None and isinstance(
        column, (pd.Series, pd.Index, pd.api.extensions.ExtensionArray)
    ):
        return (lambda: _from_series(pd.Series(column, copy=False))), len(column)
    if isinstance(column, (list, tuple)):
        return (lambda: _Raw(_object_array(column))), len(column)
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
        getters = {c.name: (lambda: _Raw(np.empty(0, dtype=object))) for c in inputs}
    return getters, len(rows)


def _row_values(rows: Sequence[Mapping[Any, Any]], name: Any) -> _Raw:
    return _Raw(_object_array([row[name] for row in rows]))


def _object_array(values: Sequence[Any]) -> np.ndarray:
    # fromiter keeps nested sequences as single objects instead of building a 2-D array.
    return np.fromiter(values, dtype=object, count=len(values))


def _given_mask(raw: _Raw, name: str, length: int) -> np.ndarray:
    mask = np.asarray(raw.values)
    has_nulls = raw.null is not None and bool(np.asarray(raw.null).any())
    if mask.dtype.kind != "b" or mask.shape != (length,) or has_nulls:
        raise _Problem(
            None,
            f"must be a bool array of {length} rows, got {mask.dtype} {mask.shape}",
            "pass True where the value is null",
        )
    return mask


def _check_names(names: list[Any], inputs: Sequence[InputColumn], source: str, extra: str) -> None:
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


def _from_numpy(values: np.ndarray) -> _Raw:
    if values.ndim != 1:
        return _Raw(values.reshape(-1)[:0], foreign=f"a {values.ndim}-D array (need 1-D)")
    if values.dtype.kind == "U":
        return _Raw(values.astype(object), strings=True)
    if values.dtype.kind == "T":  # StringDType: its na_object (if any) becomes an object
        return _Raw(values.astype(object))
    return _Raw(values)


def _from_series(s: Any) -> _Raw:
    pd = sys.modules["pandas"]
    dtype = s.dtype
    if isinstance(dtype, np.dtype):
        return _from_numpy(s.to_numpy())
    if isinstance(dtype, pd.DatetimeTZDtype):
        # tz_convert(None) gives the UTC wall clock: the instant itself, at the column's unit.
        values = s.dt.tz_convert(None).to_numpy()
        null = np.isnat(values)
        return _Raw(values, null if null.any() else None, tz=True)
    if isinstance(dtype, pd.ArrowDtype):
        return _from_arrow(pa.chunked_array(s.array.__arrow_array__()))
    if isinstance(dtype, pd.StringDtype):
        null = s.isna().to_numpy()
        return _Raw(
            s.to_numpy(dtype=object, na_value=""), null if null.any() else None, strings=True
        )
    numpy_dtype = getattr(dtype, "numpy_dtype", None)
    if numpy_dtype is not None and numpy_dtype.kind in "iufb":  # Int64, Float64, boolean, ...
        null = s.isna().to_numpy()
        placeholder = False if numpy_dtype.kind == "b" else 0
        values = s.to_numpy(dtype=numpy_dtype, na_value=placeholder)
        return _Raw(values, null if null.any() else None)
    # Categorical and other extension types: their values as objects, nulls as None.
    return _Raw(np.asarray(s.astype(object), dtype=object))


def _from_arrow(arr: Any) -> _Raw:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks else pa.array([], type=arr.type)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    t = arr.type
    null = arr.is_null().to_numpy(zero_copy_only=False) if arr.null_count else None
    if pa.types.is_null(t):
        return _Raw(np.full(len(arr), None, dtype=object), np.ones(len(arr), dtype=bool))
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t):
        zero = False if pa.types.is_boolean(t) else 0
        return _Raw(arr.fill_null(zero).to_numpy(zero_copy_only=False), null)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return _Raw(arr.fill_null("").to_numpy(zero_copy_only=False), null, strings=True)
    if pa.types.is_timestamp(t):
        ints = arr.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
        return _Raw(ints.view(f"datetime64[{t.unit}]"), null, tz=t.tz is not None)
    return _Raw(np.empty(0), null, foreign=f"arrow type {t}")


# ----------------------------------------------------------------------------- conversion


def _convert(raw: _Raw, col: InputColumn) -> tuple[np.ndarray, np.ndarray]:
    """Check one column against its declared type: (values, null mask) or _Problem."""
    if raw.foreign is not None:
        raise _Problem(None, f"holds {raw.foreign}, not {col.dtype} values", _HINTS[col.dtype])
    issues = _Issues(col.name)
    if raw.values.dtype.kind == "O":
        values, null = _from_objects(raw, col.dtype, issues)
    else:
        values, null = _TYPED[col.dtype](raw, issues)
    if raw.null is not None:
        null = null | raw.null
    if not col.nullable and null.any():
        issues.at(
            null,
            None,
            lambda i: _show_null(raw.values, i),
            "is null ({value}) but the column is declared non-nullable",
            f"declare it '{col.name}: {col.dtype}?' in the spec's input block, or fill the nulls",
        )
    issues.raise_first()
    if col.dtype is DType.FLOAT:
        values[null] = np.nan
    elif null.any():
        values[null] = _PLACEHOLDER[col.dtype]
    return values, null


def _show_null(values: np.ndarray, i: int) -> str:
    if values.dtype.kind == "O":
        return _show(values[i])
    return "NaN, which is null for floats" if values.dtype.kind == "f" else "null"


_PLACEHOLDER: dict[DType, Any] = {
    DType.INT: 0,
    DType.BOOL: False,
    DType.STRING: "",
    DType.TIMESTAMP: 0,
}


def _no_null(n: int) -> np.ndarray:
    return np.zeros(n, dtype=bool)


def _wrong(raw: _Raw, dtype: DType, found: str, issues: _Issues) -> tuple[np.ndarray, np.ndarray]:
    """A whole typed array of the wrong kind: report its first non-null value."""
    n = len(raw.values)
    present = np.ones(n, dtype=bool) if raw.null is None else ~raw.null
    null = _no_null(n)
    if raw.values.dtype.kind == "f":  # pandas stores an all-missing column as float NaN
        null = np.isnan(raw.values)
        present &= ~null
    # An all-null column of another storage type is fine for a nullable column.
    issues.at(
        present,
        None,
        lambda i: _show(raw.values[i].item() if hasattr(raw.values[i], "item") else raw.values[i]),
        f"expected {dtype} values, found {found}: {{value}}",
        _HINTS[dtype],
    )
    return _EMPTY_OF[dtype](n), null


_EMPTY_OF: dict[DType, Callable[[int], np.ndarray]] = {
    DType.FLOAT: lambda n: np.zeros(n, dtype=np.float64),
    DType.INT: lambda n: np.zeros(n, dtype=np.int64),
    DType.BOOL: lambda n: np.zeros(n, dtype=bool),
    DType.STRING: lambda n: np.full(n, "", dtype=object),
    DType.TIMESTAMP: lambda n: np.zeros(n, dtype=np.int64),
}


def _describe(values: np.ndarray) -> str:
    kind = values.dtype.kind
    if kind == "M":
        return f"datetimes ({values.dtype})"
    names = {"b": "bools", "i": "integers", "u": "integers", "f": "floats", "S": "bytes"}
    return f"{names.get(kind, 'values')} ({values.dtype})"


def _typed_float(raw: _Raw, issues: _Issues) -> tuple[np.ndarray, np.ndarray]:
    v = raw.values
    if v.dtype.kind == "f":
        out = v.astype(np.float64)  # float16/32 widen exactly
        return out, np.isnan(out)
    if v.dtype.kind in "iu":
        out = v.astype(np.float64)
        bad = _inexact_in_float(v, out)
        if raw.null is not None:
            bad &= ~raw.null
        issues.at(
            bad,
            None,
            lambda i: str(v[i]),
            "integer {value} is not exactly representable as a float64 (it would round)",
            "declare the column int, or round the values to float64 yourself",
        )
        return out, _no_null(len(v))
    return _wrong(raw, DType.FLOAT, _describe(v), issues)


def _inexact_in_float(v: np.ndarray, as_float: np.ndarray) -> np.ndarray:
    """Integers whose float64 conversion rounds (only possible beyond 2**53 in magnitude)."""
    big = (
        (v > _EXACT_FLOAT_INT)
        if v.dtype.kind == "u"
        else (v > _EXACT_FLOAT_INT) | (v < -_EXACT_FLOAT_INT)
    )
    if not big.any():
        return big
    back_type = np.uint64 if v.dtype.kind == "u" else np.int64
    limit = 2.0**64 if v.dtype.kind == "u" else 2.0**63
    f = as_float[big]
    overflow = f >= limit
    with np.errstate(invalid="ignore"):
        back = np.where(overflow, 0, f).astype(back_type)
    bad = big.copy()
    bad[big] = overflow | (back != v[big])
    return bad


def _typed_int(raw: _Raw, issues: _Issues) -> tuple[np.ndarray, np.ndarray]:
    v = raw.values
    if v.dtype.kind == "i":
        return v.astype(np.int64), _no_null(len(v))
    if v.dtype.kind == "u":
        bad = v > _INT64_MAX
        if raw.null is not None:
            bad &= ~raw.null
        issues.at(
            bad, None, lambda i: str(v[i]), "{value} is out of the int64 range", _HINTS[DType.INT]
        )
        return np.where(bad, 0, v).astype(np.int64), _no_null(len(v))
    if v.dtype.kind == "f":
        return _floats_to_int(v.astype(np.float64), None, issues)
    return _wrong(raw, DType.INT, _describe(v), issues)


def _floats_to_int(
    f: np.ndarray, rows: np.ndarray | None, issues: _Issues
) -> tuple[np.ndarray, np.ndarray]:
    """Whole floats -> int64 exactly; NaN is null; fractions, inf and out-of-range are errors."""
    null = np.isnan(f)
    finite = np.isfinite(f)
    fractional = finite & (np.floor(f) != f)
    out_of_range = ~null & (~finite | (f < -(2.0**63)) | (f >= 2.0**63))
    show = lambda i: repr(float(f[i]))  # noqa: E731
    issues.at(
        fractional,
        rows,
        show,
        "{value} has a fractional part but the column is int",
        "round explicitly, or declare the column float",
    )
    issues.at(out_of_range, rows, show, "{value} is out of the int64 range", _HINTS[DType.INT])
    ok = ~(null | fractional | out_of_range)
    out = np.zeros(len(f), dtype=np.int64)
    out[ok] = f[ok].astype(np.int64)
    return out, null


def _typed_bool(raw: _Raw, issues: _Issues) -> tuple[np.ndarray, np.ndarray]:
    v = raw.values
    if v.dtype.kind == "b":
        return v.astype(bool), _no_null(len(v))
    return _wrong(raw, DType.BOOL, _describe(v), issues)


def _typed_string(raw: _Raw, issues: _Issues) -> tuple[np.ndarray, np.ndarray]:
    v = raw.values
    if v.dtype.kind == "S":
        return _wrong(raw, DType.STRING, "bytes (decode them to str first)", issues)
    return _wrong(raw, DType.STRING, _describe(v), issues)


def _typed_timestamp(raw: _Raw, issues: _Issues) -> tuple[np.ndarray, np.ndarray]:
    v = raw.values
    present = np.ones(len(v), dtype=bool) if raw.null is None else ~raw.null
    if v.dtype.kind == "M":
        if not raw.tz:
            issues.at(present & ~np.isnat(v), None, lambda i: str(v[i]), _NAIVE, "")
            return np.zeros(len(v), dtype=np.int64), np.isnat(v)
        return _datetime64_to_micros(v, present, issues)
    if v.dtype.kind == "i":
        return v.astype(np.int64), _no_null(len(v))
    if v.dtype.kind == "u":
        return _typed_int(raw, issues)
    if v.dtype.kind == "f":
        return _wrong(raw, DType.TIMESTAMP, _describe(v) + "; use Int64 for nullable ints", issues)
    return _wrong(raw, DType.TIMESTAMP, _describe(v), issues)


def _datetime64_to_micros(
    v: np.ndarray, present: np.ndarray, issues: _Issues
) -> tuple[np.ndarray, np.ndarray]:
    unit, count = np.datetime_data(v.dtype)
    null = np.isnat(v)
    ints = np.where(null, 0, v.view(np.int64))
    show = lambda i: f"{v[i]} UTC"  # noqa: E731
    if unit in _FINER_US:
        per = _FINER_US[unit] // count if _FINER_US[unit] % count == 0 else 0
        if per == 0:
            issues.add(None, f"has an unsupported time unit {v.dtype}", _HINTS[DType.TIMESTAMP])
            return np.zeros(len(v), dtype=np.int64), null
        rest = ints % per
        issues.at(
            present & (rest != 0),
            None,
            show,
            "{value} has sub-microsecond precision, which featuredsl does not keep",
            "round it explicitly, e.g. df['{name}'].dt.floor('us')",
        )
        return ints // per, null
    if unit not in _COARSER_US:
        issues.add(None, f"has a calendar time unit {v.dtype}", _HINTS[DType.TIMESTAMP])
        return np.zeros(len(v), dtype=np.int64), null
    factor = _COARSER_US[unit] * count
    limit = _INT64_MAX // factor
    bad = present & ((ints > limit) | (ints < -limit))
    issues.at(bad, None, show, "{value} is out of the int64 microsecond range", "")
    return np.where(bad, 0, ints) * factor, null


_TYPED: dict[DType, Callable[[_Raw, _Issues], tuple[np.ndarray, np.ndarray]]] = {
    DType.FLOAT: _typed_float,
    DType.INT: _typed_int,
    DType.BOOL: _typed_bool,
    DType.STRING: _typed_string,
    DType.TIMESTAMP: _typed_timestamp,
}


# ----------------------------------------------------------------------------- object columns

_TYPE_OF = np.frompyfunc(type, 1, 1)
_ALLOWED: dict[DType, frozenset[str]] = {
    DType.FLOAT: frozenset({"float", "int"}),
    DType.INT: frozenset({"int", "float"}),
    DType.BOOL: frozenset({"bool"}),
    DType.STRING: frozenset({"str"}),
    DType.TIMESTAMP: frozenset({"datetime", "int"}),
}


def _category(t: type) -> str:
    """The kind of a Python value for type checking: null, bool, int, float, str, datetime, ..."""
    if t is type(None) or t.__name__ in ("NAType", "NaTType"):
        return "null"
    if issubclass(t, (bool, np.bool_)):
        return "bool"
    if issubclass(t, (int, np.integer)):
        return "int"
    if issubclass(t, (float, np.floating)):
        return "float"
    if t is str:
        return "str"
    if issubclass(t, str):
        return "str-subclass"  # np.str_ and friends: converted to plain str
    if issubclass(t, _dt.datetime):
        return "datetime"
    if issubclass(t, np.datetime64):
        return "datetime64"
    return t.__name__


def _kinds(values: np.ndarray) -> dict[str, np.ndarray]:
    """A bool mask per value kind of an object array (one vectorised pass per distinct type)."""
    types = _TYPE_OF(values) if len(values) else np.empty(0, dtype=object)
    masks: dict[str, np.ndarray] = {}
    for t in set(types.tolist()):
        # np.equal on a 1-element object array compares by identity; `types == t` may
        # instead defer to a class that defines __array_priority__ (pandas' Timestamp does).
        ref = np.empty(1, dtype=object)
        ref[0] = t
        mask = np.equal(types, ref)
        kind = _category(t)
        masks[kind] = masks[kind] | mask if kind in masks else mask
    return masks


def _from_objects(raw: _Raw, dtype: DType, issues: _Issues) -> tuple[np.ndarray, np.ndarray]:
    values = raw.values
    n = len(values)
    if raw.strings:
        kinds = {"str": np.ones(n, dtype=bool) if raw.null is None else ~raw.null}
    else:
        kinds = _kinds(values)
        if raw.null is not None:
            kinds = {k: m & ~raw.null for k, m in kinds.items()}
    null = kinds.pop("null", np.zeros(n, dtype=bool))
    if "float" in kinds:  # NaN is a null in an object column, whatever the declared type
        nan = np.zeros(n, dtype=bool)
        nan[kinds["float"]] = np.isnan(values[kinds["float"]].astype(np.float64))
        null = null | nan
        kinds["float"] = kinds["float"] & ~nan
    if "datetime64" in kinds:  # numpy's NaT is a null; any other numpy datetime64 is naive
        nat = np.zeros(n, dtype=bool)
        nat[kinds["datetime64"]] = np.isnat(values[kinds["datetime64"]].astype("datetime64[us]"))
        null = null | nat
        kinds["datetime64"] = kinds["datetime64"] & ~nat
    if "str-subclass" in kinds:
        mask = kinds.pop("str-subclass")
        values = values.copy()
        values[mask] = _object_array([str(v) for v in values[mask].tolist()])
        kinds["str"] = kinds["str"] | mask if "str" in kinds else mask
    kinds = {k: m for k, m in kinds.items() if m.any()}
    _reject_kinds(values, kinds, dtype, issues)
    return _OBJECT[dtype](values, kinds, issues), null


def _reject_kinds(
    values: np.ndarray, kinds: dict[str, np.ndarray], dtype: DType, issues: _Issues
) -> None:
    allowed = _ALLOWED[dtype]
    show = lambda i: f"{_type_name(values[i])} {_show(values[i])}"  # noqa: E731
    for kind, mask in kinds.items():
        if kind in allowed:
            continue
        if dtype is DType.TIMESTAMP and kind in ("datetime64",):
            issues.at(mask, None, show, _NAIVE, "")
        elif dtype is DType.TIMESTAMP and kind == "str":
            hint = "strings are not parsed here: convert them, e.g. pd.to_datetime(df['{name}'], utc=True)"
            issues.at(mask, None, show, "expected timestamp values, found {value}", hint)
        elif dtype is DType.STRING and kind == "bytes":
            issues.at(
                mask, None, show, "expected str values, found {value}", "decode bytes to str first"
            )
        else:
            issues.at(mask, None, show, f"expected {dtype} values, found {{value}}", _HINTS[dtype])
    if dtype is DType.TIMESTAMP and "datetime" in kinds and "int" in kinds:
        later = max(("datetime", "int"), key=lambda k: int(np.argmax(kinds[k])))
        issues.at(
            kinds[later],
            None,
            show,
            "mixes datetimes and integers ({value})",
            "use one representation per column: tz-aware datetimes or int64 microseconds",
        )


def _object_floats(values: np.ndarray, kinds: dict[str, np.ndarray], issues: _Issues) -> np.ndarray:
    out = np.zeros(len(values), dtype=np.float64)
    if "float" in kinds:
        out[kinds["float"]] = values[kinds["float"]].astype(np.float64)
    if "int" in kinds:
        rows = np.flatnonzero(kinds["int"])
        ints = _object_ints(values, rows, issues, "float")
        as_float = ints.astype(np.float64)
        bad = _inexact_in_float(ints, as_float)
        issues.at(
            bad,
            rows,
            lambda i: str(ints[i]),
            "integer {value} is not exactly representable as a float64 (it would round)",
            "declare the column int, or round the values to float64 yourself",
        )
        out[rows] = as_float
    return out


def _object_ints(values: np.ndarray, rows: np.ndarray, issues: _Issues, what: str) -> np.ndarray:
    """Python/numpy integers at `rows` as int64; those outside int64 are reported (and set to 0)."""
    picked = values[rows]
    try:
        return picked.astype(np.int64)
    except OverflowError:
        fits = np.fromiter((_INT64_MIN <= int(x) <= _INT64_MAX for x in picked), bool, len(picked))
        issues.at(
            ~fits,
            rows,
            lambda i: str(picked[i]),
            "{value} is out of the int64 range",
            f"the {what} column needs int64 values",
        )
        return np.where(fits, picked, 0).astype(np.int64)


def _object_int_column(
    values: np.ndarray, kinds: dict[str, np.ndarray], issues: _Issues
) -> np.ndarray:
    out = np.zeros(len(values), dtype=np.int64)
    if "int" in kinds:
        rows = np.flatnonzero(kinds["int"])
        out[rows] = _object_ints(values, rows, issues, "int")
    if "float" in kinds:
        rows = np.flatnonzero(kinds["float"])
        ints, _ = _floats_to_int(values[rows].astype(np.float64), rows, issues)
        out[rows] = ints
    return out


def _object_bools(values: np.ndarray, kinds: dict[str, np.ndarray], issues: _Issues) -> np.ndarray:
    out = np.zeros(len(values), dtype=bool)
    if "bool" in kinds:
        out[kinds["bool"]] = values[kinds["bool"]].astype(bool)
    return out


def _object_strings(
    values: np.ndarray, kinds: dict[str, np.ndarray], issues: _Issues
) -> np.ndarray:
    out = np.full(len(values), "", dtype=object)
    if "str" not in kinds:
        return out
    rows = np.flatnonzero(kinds["str"])
    picked = values[rows]
    _check_text(picked.tolist(), rows, issues)
    out[rows] = picked
    return out


def _check_text(strings: list[str], rows: np.ndarray, issues: _Issues) -> None:
    """U+0000 and lone surrogates have no place at the UTF-8 boundary: reject them."""
    joined = "".join(strings)  # one C-level scan for the common, clean case
    if "\x00" in joined:
        bad = np.fromiter(("\x00" in s for s in strings), bool, len(strings))
        issues.at(
            bad,
            rows,
            lambda i: _show(strings[i]),
            "{value} contains U+0000 (NUL), which featuredsl strings cannot hold",
            "remove or replace NUL characters",
        )
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError:
        bad = np.fromiter((not _utf8_ok(s) for s in strings), bool, len(strings))
        issues.at(
            bad,
            rows,
            lambda i: _show(strings[i]),
            "{value} contains a lone surrogate and cannot be encoded as UTF-8",
            "fix the text decoding upstream (e.g. decode bytes with errors='replace')",
        )


def _utf8_ok(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _object_timestamps(
    values: np.ndarray, kinds: dict[str, np.ndarray], issues: _Issues
) -> np.ndarray:
    out = np.zeros(len(values), dtype=np.int64)
    if "int" in kinds:
        rows = np.flatnonzero(kinds["int"])
        out[rows] = _object_ints(values, rows, issues, "timestamp")
    if "datetime" in kinds:
        for row in np.flatnonzero(kinds["datetime"]).tolist():
            micros = _datetime_micros(values[row], row, issues)
            if micros is None:
                break  # the first bad datetime is reported; later ones cannot come first
            out[row] = micros
    return out


def _datetime_micros(value: _dt.datetime, row: int, issues: _Issues) -> int | None:
    if value.tzinfo is None or value.utcoffset() is None:
        issues.add(row, _NAIVE, "", _show(value))
        return None
    nanos = getattr(value, "nanosecond", 0)
    if nanos:
        issues.add(
            row,
            f"{_show(value)} has sub-microsecond precision, which featuredsl does not keep",
            "round it explicitly, e.g. df['{name}'].dt.floor('us')",
        )
        return None
    micros = (value - _EPOCH) // _ONE_MICROSECOND
    return int(micros)


_OBJECT: dict[DType, Callable[[np.ndarray, dict[str, np.ndarray], _Issues], np.ndarray]] = {
    DType.FLOAT: _object_floats,
    DType.INT: _object_int_column,
    DType.BOOL: _object_bools,
    DType.STRING: _object_strings,
    DType.TIMESTAMP: _object_timestamps,
}


# ----------------------------------------------------------------------------- files


def _read_parquet(path: Path, where: str) -> pa.Table:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{where}: cannot read Parquet ({err}); is it a Parquet file?") from None


_CSV_PARSE: dict[DType, Any] = {
    DType.FLOAT: pa.float64(),
    DType.INT: pa.int64(),
    DType.BOOL: pa.bool_(),
    DType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
}


def _read_csv(path: Path, inputs: Sequence[InputColumn], where: str) -> pa.Table:
    import pyarrow.csv as pcsv

    # Declared columns are read as text and parsed below, with row numbers in the errors.
    convert = pcsv.ConvertOptions(
        column_types={c.name: pa.string() for c in inputs},
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,  # "" (quoted) is the empty string, not null
    )
    try:
        table = pcsv.read_csv(path, convert_options=convert)
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{where}: cannot read CSV ({err})") from None
    problems = []
    for col in inputs:
        if col.name not in table.schema.names or col.dtype is DType.STRING:
            continue
        i = table.schema.get_field_index(col.name)
        try:
            parsed = _parse_text(table.column(i).combine_chunks(), col.dtype)
        except _Problem as problem:
            problems.append(problem.render(col.name))
            continue
        table = table.set_column(i, col.name, parsed)
    if problems:
        raise DataError(_join_problems(where, problems))
    return table


def _parse_text(text: Any, dtype: DType) -> Any:
    if dtype is DType.INT:
        # arrow's cast also takes '0x10'; a CSV int is decimal digits with an optional '-'.
        plain = pc.match_substring_regex(text, r"^-?[0-9]+$").fill_null(True)
        if not pc.all(plain).as_py():
            row = int(np.argmax(~plain.to_numpy(zero_copy_only=False)))
            value = text[row].as_py()
            raise _Problem(row, f"{value!r} is not a decimal integer", "fix the value in the file")
    try:
        return pc.cast(text, _CSV_PARSE[dtype])
    except pa.ArrowInvalid:
        pass
    row = _first_unparsable(text, _CSV_PARSE[dtype])
    value = text[row].as_py()
    if dtype is DType.TIMESTAMP:
        message, hint = _timestamp_text_problem(value)
        raise _Problem(row, message.replace("{row}", str(row)), hint)
    spelled = {
        DType.FLOAT: "a number",
        DType.INT: "an int64 integer",
        DType.BOOL: "a bool (true/false/1/0)",
    }[dtype]
    raise _Problem(row, f"{value!r} is not {spelled}", "fix the value in the file")


def _timestamp_text_problem(value: str) -> tuple[str, str]:
    try:
        pc.cast(pa.array([value]), pa.timestamp("ns"))
    except pa.ArrowInvalid:
        return (
            f"{value!r} is not an ISO-8601 timestamp with a UTC offset",
            "write instants like 2024-05-01T12:00:00Z or 2024-05-01T13:00:00+01:00, "
            "with at most 6 fractional digits",
        )
    return (
        "holds time-zone-naive timestamps (first at row {row}: " + _show(value) + "); featuredsl "
        "needs instants: write them with an offset, e.g. 2024-05-01T12:00:00Z or "
        "2024-05-01T13:00:00+01:00",
        "",
    )


def _first_unparsable(text: Any, target: Any) -> int:
    """The first row whose text does not cast: bisect on slices, O(n) work in total."""
    lo, hi = 0, len(text)  # invariant: the first bad row is in [lo, hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            pc.cast(text.slice(lo, mid - lo), target)
        except pa.ArrowInvalid:
            hi = mid
        else:
            lo = mid
    return lo
