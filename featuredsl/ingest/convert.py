"""Conversion of raw columns to their declared types, exactly or not at all."""

from __future__ import annotations

import datetime as _dt
import unicodedata
from collections.abc import Callable
from typing import Any

import numpy as np

from featuredsl.compiler.ir import InputColumn
from featuredsl.compiler.types import DType
from featuredsl.ingest.problems import Issues, Problem, show_value, type_name
from featuredsl.ingest.sources import Raw, object_array

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_EXACT_FLOAT_INT = 2**53  # every integer of at most this magnitude is exact in float64
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_ONE_MICROSECOND = _dt.timedelta(microseconds=1)
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
    DType.TIMESTAMP: "pass tz-aware datetimes, numpy datetime64, or integers with their unit "
    "stated (timestamp_unit='s', 'ms', 'us' or 'ns')",
}
_NAIVE = (
    "holds time-zone-naive timestamps (first at row {row}: {value}); featuredsl needs instants: "
    "localize them (e.g. df['{name}'].dt.tz_localize('UTC')), or pass integers since the "
    "epoch with their unit stated (timestamp_unit='us')"
)


def convert(
    raw: Raw,
    col: InputColumn,
    timestamp_unit: str | None = None,
    declared_in: str = "the spec's input block",
) -> tuple[np.ndarray, np.ndarray]:
    """Check one column against its declared type: (values, null mask) or Problem.

    `timestamp_unit` ("s", "ms", "us" or "ns") is the unit of bare integers in a timestamp
    column; without it bare integers are refused (never read in a guessed unit). `declared_in`
    says where the column is declared, for the fix of a null in a non-nullable column."""
    if raw.foreign is not None:
        raise Problem(None, f"holds {raw.foreign}, not {col.dtype} values", _HINTS[col.dtype])
    issues = Issues(col.name)
    if raw.values.dtype.kind == "O":
        values, null = _from_objects(raw, col.dtype, issues)
    else:
        values, null = _TYPED[col.dtype](raw, issues)
    if raw.null is not None:
        null = null | raw.null
    if col.dtype is DType.TIMESTAMP:
        values = _integer_instants(raw.values, values, ~null, timestamp_unit, issues)
    if not col.nullable and null.any():
        issues.at(
            null,
            None,
            lambda i: _show_null(raw.values, i),
            "is null ({value}) but the column is declared non-nullable",
            f"declare it '{col.name}: {col.dtype}?' in {declared_in}, or fill the nulls",
        )
    issues.raise_first()
    if col.dtype is DType.FLOAT:
        values[null] = np.nan
    elif null.any():
        values[null] = PLACEHOLDER[col.dtype]
    return values, null


def _show_null(values: np.ndarray, i: int) -> str:
    if values.dtype.kind == "O":
        return show_value(values[i])
    return "NaN, which is null for floats" if values.dtype.kind == "f" else "null"


PLACEHOLDER: dict[DType, Any] = {
    DType.INT: 0,
    DType.BOOL: False,
    DType.STRING: "",
    DType.TIMESTAMP: 0,
}


def _no_null(n: int) -> np.ndarray:
    return np.zeros(n, dtype=bool)


def _wrong(raw: Raw, dtype: DType, found: str, issues: Issues) -> tuple[np.ndarray, np.ndarray]:
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
        lambda i: show_value(
            raw.values[i].item() if hasattr(raw.values[i], "item") else raw.values[i]
        ),
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


def _typed_float(raw: Raw, issues: Issues) -> tuple[np.ndarray, np.ndarray]:
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


def _typed_int(raw: Raw, issues: Issues) -> tuple[np.ndarray, np.ndarray]:
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
    f: np.ndarray, rows: np.ndarray | None, issues: Issues
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


def _typed_bool(raw: Raw, issues: Issues) -> tuple[np.ndarray, np.ndarray]:
    v = raw.values
    if v.dtype.kind == "b":
        return v.astype(bool), _no_null(len(v))
    return _wrong(raw, DType.BOOL, _describe(v), issues)


def _typed_string(raw: Raw, issues: Issues) -> tuple[np.ndarray, np.ndarray]:
    v = raw.values
    if v.dtype.kind == "S":
        return _wrong(raw, DType.STRING, "bytes (decode them to str first)", issues)
    return _wrong(raw, DType.STRING, _describe(v), issues)


def _typed_timestamp(raw: Raw, issues: Issues) -> tuple[np.ndarray, np.ndarray]:
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
    v: np.ndarray, present: np.ndarray, issues: Issues
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


_TYPED: dict[DType, Callable[[Raw, Issues], tuple[np.ndarray, np.ndarray]]] = {
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


TIMESTAMP_UNITS = ("s", "ms", "us", "ns")  # what `timestamp_unit` may say
FIRST_INSTANT = -62_135_596_800_000_000  # 0001-01-01T00:00:00Z in microseconds
LAST_INSTANT = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z
_UNIT_HINT = (
    "state their unit: timestamp_unit='s', 'ms', 'us' or 'ns' (Spec.fit, transform, Session, "
    "FeatureTransformer; --timestamp-unit on build, parity, profile, skew and shadow), or pass numpy "
    "datetime64 values, Arrow timestamps or tz-aware datetimes"
)


def _integer_instants(
    raw: np.ndarray, micros: np.ndarray, present: np.ndarray, unit: str | None, issues: Issues
) -> np.ndarray:
    """A timestamp column's instants as int64 microseconds, bare integers read in `unit`.

    Typed values (datetime64 of any unit, Arrow timestamps, tz-aware datetimes) carry their
    unit and arrive here already exact. Refused, naming the column and row: bare integers
    without a stated unit (never read in a guessed unit), nanoseconds that are not whole
    microseconds, and any instant outside the years 1-9999 (FIRST_INSTANT..LAST_INSTANT: the
    range of Python's datetime; an instant outside it is almost always a wrong unit)."""
    if raw.dtype.kind in "iu":
        bare = present.copy()
    elif raw.dtype.kind == "O":
        is_int = [isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in raw]
        bare = np.fromiter(is_int, bool, len(raw)) & present
    else:
        bare = np.zeros(len(raw), dtype=bool)
    shown = micros.copy()
    if bare.any() and unit is None:
        issues.at(
            bare,
            None,
            lambda i: str(shown[i]),
            "holds bare integers (first at row {row}: {value}) and their unit is not stated; "
            "featuredsl never guesses it: " + _UNIT_HINT,
            "",
        )
        return micros
    if unit is not None and unit not in TIMESTAMP_UNITS:
        raise ValueError(f"timestamp_unit must be one of {TIMESTAMP_UNITS}, not {unit!r}")
    out = micros.copy()
    unreadable = np.zeros(len(raw), dtype=bool)
    if bare.any() and unit in _FINER_US:
        per = _FINER_US[unit]
        unreadable = bare & (micros % per != 0)
        issues.at(
            unreadable,
            None,
            lambda i: f"{shown[i]} ns",
            "{value} is not a whole number of microseconds",
            "featuredsl keeps microseconds: round the nanoseconds first",
        )
        out[bare] = micros[bare] // per
    elif bare.any() and unit is not None:
        factor = _COARSER_US[unit]
        unreadable = bare & (np.abs(micros) > _INT64_MAX // factor)
        out[bare & ~unreadable] = micros[bare & ~unreadable] * factor
    outside = present & ~unreadable & ((out < FIRST_INSTANT) | (out > LAST_INSTANT))
    issues.at(
        outside | (unreadable & (unit not in _FINER_US)),
        None,
        lambda i: f"{shown[i]} {unit}" if bare[i] else _show_instant(out[i]),
        "{value} is not an instant in the years 1-9999",
        f"check the unit (timestamp_unit={unit!r} was given)"
        if unit is not None
        else "check the source of the values",
    )
    return out


def _show_instant(micros: int) -> str:
    return f"{int(micros)} microseconds since the epoch"


def _from_objects(raw: Raw, dtype: DType, issues: Issues) -> tuple[np.ndarray, np.ndarray]:
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
        values[mask] = object_array([str(v) for v in values[mask].tolist()])
        kinds["str"] = kinds["str"] | mask if "str" in kinds else mask
    kinds = {k: m for k, m in kinds.items() if m.any()}
    _reject_kinds(values, kinds, dtype, issues)
    return _OBJECT[dtype](values, kinds, issues), null


def _reject_kinds(
    values: np.ndarray, kinds: dict[str, np.ndarray], dtype: DType, issues: Issues
) -> None:
    allowed = _ALLOWED[dtype]
    describe = lambda i: f"{type_name(values[i])} {show_value(values[i])}"  # noqa: E731
    for kind, mask in kinds.items():
        if kind in allowed:
            continue
        if dtype is DType.TIMESTAMP and kind in ("datetime64",):
            issues.at(mask, None, describe, _NAIVE, "")
        elif dtype is DType.TIMESTAMP and kind == "str":
            hint = "strings are not parsed here: convert them, e.g. pd.to_datetime(df['{name}'], utc=True)"
            issues.at(mask, None, describe, "expected timestamp values, found {value}", hint)
        elif dtype is DType.STRING and kind == "bytes":
            issues.at(
                mask,
                None,
                describe,
                "expected str values, found {value}",
                "decode bytes to str first",
            )
        else:
            issues.at(
                mask, None, describe, f"expected {dtype} values, found {{value}}", _HINTS[dtype]
            )
    if dtype is DType.TIMESTAMP and "datetime" in kinds and "int" in kinds:
        later = max(("datetime", "int"), key=lambda k: int(np.argmax(kinds[k])))
        issues.at(
            kinds[later],
            None,
            describe,
            "mixes datetimes and integers ({value})",
            "use one representation per column: tz-aware datetimes or int64 microseconds",
        )


def _object_floats(values: np.ndarray, kinds: dict[str, np.ndarray], issues: Issues) -> np.ndarray:
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


def _object_ints(values: np.ndarray, rows: np.ndarray, issues: Issues, what: str) -> np.ndarray:
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
    values: np.ndarray, kinds: dict[str, np.ndarray], issues: Issues
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


def _object_bools(values: np.ndarray, kinds: dict[str, np.ndarray], issues: Issues) -> np.ndarray:
    out = np.zeros(len(values), dtype=bool)
    if "bool" in kinds:
        out[kinds["bool"]] = values[kinds["bool"]].astype(bool)
    return out


def _object_strings(values: np.ndarray, kinds: dict[str, np.ndarray], issues: Issues) -> np.ndarray:
    out = np.full(len(values), "", dtype=object)
    if "str" not in kinds:
        return out
    rows = np.flatnonzero(kinds["str"])
    picked = values[rows]
    _check_text(picked.tolist(), rows, issues)
    out[rows] = picked
    return out


def _check_text(strings: list[str], rows: np.ndarray, issues: Issues) -> None:
    """U+0000, lone surrogates and text not in Unicode NFC have no place at the boundary.

    NFC (Unicode Standard Annex #15): canonically equal text ("é" as U+00E9, or e + U+0301)
    must have one spelling, or training and serving put it in different categories; featuredsl
    compares text by code points and requires NFC from every caller (docs/language.md).
    """
    joined = "".join(strings)  # one C-level scan for the common, clean case
    # Joining can make NFC pieces non-NFC (a string starting with a combining mark): recheck.
    if not unicodedata.is_normalized("NFC", joined):
        bad = np.fromiter((not unicodedata.is_normalized("NFC", s) for s in strings), bool)
        issues.at(
            bad,
            rows,
            lambda i: ascii(strings[i])[:60],  # escapes show the combining marks
            "{value} is not in Unicode NFC form",
            "normalize text with unicodedata.normalize('NFC', s) before it reaches featuredsl: "
            "canonically equal spellings would otherwise be different categories",
        )
    if "\x00" in joined:
        bad = np.fromiter(("\x00" in s for s in strings), bool, len(strings))
        issues.at(
            bad,
            rows,
            lambda i: show_value(strings[i]),
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
            lambda i: show_value(strings[i]),
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
    values: np.ndarray, kinds: dict[str, np.ndarray], issues: Issues
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


def _datetime_micros(value: _dt.datetime, row: int, issues: Issues) -> int | None:
    if value.tzinfo is None or value.utcoffset() is None:
        issues.add(row, _NAIVE, "", show_value(value))
        return None
    nanos = getattr(value, "nanosecond", 0)
    if nanos:
        issues.add(
            row,
            "{value} has sub-microsecond precision, which featuredsl does not keep",
            "round it explicitly, e.g. df['{name}'].dt.floor('us')",
            show_value(value),
        )
        return None
    micros = (value - _EPOCH) // _ONE_MICROSECOND
    return int(micros)


_OBJECT: dict[DType, Callable[[np.ndarray, dict[str, np.ndarray], Issues], np.ndarray]] = {
    DType.FLOAT: _object_floats,
    DType.INT: _object_int_column,
    DType.BOOL: _object_bools,
    DType.STRING: _object_strings,
    DType.TIMESTAMP: _object_timestamps,
}
