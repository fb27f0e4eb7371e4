"""Point-in-time joins: for each label row, the latest feature row that was known at the label time.

Semantics (docs/pit.md has the long form):

* A feature row is a *candidate* for a label row when every key is equal and non-null, its
  feature time is non-null and <= the label time (< with ``allow_equal=False``), and, when a
  created-time column is given, its created time is non-null and <= (<) the label time too.
* Among candidates the one with the largest feature time wins; ties go to the larger created
  time, then to the row that comes last in the feature table.
* With a TTL the winner must also satisfy ``label_time - feature_time <= ttl``; otherwise, and
  when there is no candidate, the feature columns are null.

Times are compared as int64 microseconds since the epoch (UTC). Time columns must be tz-aware
timestamps or epoch integers in a stated unit (`timestamp_unit`); naive timestamps, floats and
integers without a unit are refused.

The matching is vectorised: one sort of the feature rows, a running maximum, and one (sometimes
two) ``searchsorted`` over the label rows. No Python loop touches individual rows.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featuredsl.errors import DataError

__all__ = [
    "FeatureTable",
    "TimeColumn",
    "column",
    "join",
    "match_indices",
    "parse_ttl",
    "picked_age",
    "time_micros",
]

TTL: TypeAlias = "dt.timedelta | np.timedelta64 | int | str"
Keys: TypeAlias = "str | Sequence[str]"

_INT64_MAX = np.iinfo(np.int64).max
_UNIT_MICROS = {"w": 604_800_000_000, "d": 86_400_000_000, "h": 3_600_000_000}
_UNIT_MICROS |= {"m": 60_000_000, "s": 1_000_000, "ms": 1_000, "us": 1}
_TTL_PART = re.compile(r"(\d+)(w|d|h|ms|us|m|s)")
_TTL_WHOLE = re.compile(r"(?:\d+(?:w|d|h|ms|us|m|s))+")
_FIX_NAIVE = (
    "localize it first (pandas: .dt.tz_localize('UTC'); pyarrow: cast to "
    "pa.timestamp(unit, tz='UTC')) or pass epoch integers with their unit (timestamp_unit)"
)


@dataclass(frozen=True)
class FeatureTable:
    """One feature table in a multi-table join. ``None`` fields inherit the value given to join()."""

    table: Any
    on: Keys | None = None
    feature_time: str | None = None
    ttl: TTL | None = None
    created_time: str | None = None
    prefix: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class TimeColumn:
    """A time column as epoch microseconds plus a validity mask (False where null)."""

    micros: np.ndarray
    valid: np.ndarray


@dataclass(frozen=True)
class _Resolved:
    """A FeatureTable with every inherited field filled in."""

    table: Any
    on: tuple[str, ...]
    feature_time: str
    ttl_micros: int | None
    created_time: str | None
    prefix: str
    name: str


# ---------------------------------------------------------------- TTL


def parse_ttl(ttl: TTL | None) -> int | None:
    """A TTL as whole microseconds: timedelta, pandas Timedelta, numpy timedelta64, int micros, "7d"."""
    if ttl is None:
        return None
    micros = _ttl_micros(ttl)
    if micros < 0:
        raise DataError(f"ttl must not be negative, got {ttl!r}")
    return min(micros, int(_INT64_MAX))


def _ttl_micros(ttl: TTL) -> int:
    if isinstance(ttl, bool):
        raise DataError(f"ttl must be a duration, got {ttl!r}")
    # timedelta64 subclasses np.signedinteger, so it must be tested before the integers.
    if isinstance(ttl, np.timedelta64):
        return _timedelta64_micros(ttl)
    if isinstance(ttl, int | np.integer):
        return int(ttl)
    if isinstance(ttl, str):
        return _parse_ttl_string(ttl)
    if isinstance(ttl, dt.timedelta):
        # pandas.Timedelta subclasses timedelta and may carry nanoseconds that timedelta drops.
        if getattr(ttl, "nanoseconds", 0):
            raise DataError(f"ttl {ttl!r} has sub-microsecond precision; round it to microseconds")
        return (ttl.days * 86_400 + ttl.seconds) * 1_000_000 + ttl.microseconds
    raise DataError(
        f"ttl must be a timedelta, an int of microseconds or a string like '7d', got {ttl!r}"
    )


def _timedelta64_micros(ttl: np.timedelta64) -> int:
    if np.isnat(ttl):
        raise DataError("ttl must not be NaT")
    micros = ttl.astype("timedelta64[us]")
    if micros.astype(ttl.dtype) != ttl:
        raise DataError(f"ttl {ttl!r} has sub-microsecond precision; round it to microseconds")
    return int(micros.astype(np.int64))


def _parse_ttl_string(text: str) -> int:
    compact = text.replace(" ", "")  # no lower(): "1M" must not quietly mean one minute
    if not _TTL_WHOLE.fullmatch(compact):
        raise DataError(
            f"cannot read ttl {text!r}: use a number and a unit, e.g. '7d', '12h', '30m', '45s', "
            "'1d12h' (units: w, d, h, m, s, ms, us)"
        )
    return sum(int(n) * _UNIT_MICROS[unit] for n, unit in _TTL_PART.findall(compact))


# ---------------------------------------------------------------- table access


def _is_pandas(obj: Any) -> bool:
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(obj, pd.DataFrame)


def _check_table(obj: Any, where: str) -> None:
    if isinstance(obj, pa.Table):
        return
    if _is_pandas(obj):
        odd = [c for c in obj.columns if not isinstance(c, str)]
        if odd:
            raise DataError(f"{where} has non-string column names {odd[:3]!r}; rename them")
        return
    raise DataError(
        f"{where} must be a pandas DataFrame or a pyarrow Table, got {type(obj).__name__}"
    )


def _column_names(obj: Any) -> list[str]:
    if isinstance(obj, pa.Table):
        return list(obj.column_names)
    return list(obj.columns)


def _num_rows(obj: Any) -> int:
    return obj.num_rows if isinstance(obj, pa.Table) else len(obj)


def _closest(name: str, names: list[str]) -> str:
    """' (did you mean 'x'?)' for the closest column name, compared case-insensitively."""
    folded = {str(n).casefold(): str(n) for n in names}
    close = difflib.get_close_matches(name.casefold(), list(folded), n=1, cutoff=0.6)
    return f"; did you mean {folded[close[0]]!r}?" if close else ""


def column(obj: Any, name: str, where: str) -> pa.ChunkedArray:
    """One column of a pandas DataFrame or pyarrow Table as a pyarrow ChunkedArray."""
    names = _column_names(obj)
    if name not in names:
        raise DataError(
            f"{where} has no column {name!r}{_closest(name, names)} (columns: {', '.join(names) or 'none'})"
        )
    if names.count(name) > 1:
        raise DataError(f"{where} has more than one column named {name!r}")
    if isinstance(obj, pa.Table):
        return obj.column(name)
    try:
        return pa.chunked_array([pa.array(obj[name])])
    except (pa.ArrowException, TypeError, ValueError) as err:
        raise DataError(f"{where} column {name!r} cannot be read as one type: {err}") from None


def _flat(arr: pa.ChunkedArray) -> pa.Array:
    """One contiguous Array, with dictionary (categorical) columns decoded to their values."""
    flat = pa.concat_arrays(arr.chunks) if arr.num_chunks else pa.array([], type=arr.type)
    if pa.types.is_dictionary(flat.type):
        flat = flat.dictionary_decode()
    return flat


# ---------------------------------------------------------------- times


TIMESTAMP_UNITS = ("s", "ms", "us", "ns")


def time_micros(arr: pa.ChunkedArray, where: str, name: str, unit: str | None = None) -> TimeColumn:
    """A time column as int64 epoch microseconds (UTC).

    Tz-aware timestamps of any unit convert exactly. Plain integers are read in `unit` ("s",
    "ms", "us" or "ns" since the epoch) and refused without one: a unit is never guessed (epoch
    seconds read as microseconds would match every label to 1970). Naive, float and text
    columns are refused. Raises DataError naming the table (`where`) and column."""
    flat = _flat(arr)
    kind = flat.type
    valid = flat.is_valid().to_numpy(zero_copy_only=False)
    if pa.types.is_timestamp(kind):
        raw = _timestamp_micros(flat, valid, where, name)
    elif pa.types.is_integer(kind):
        raw = _integer_micros(flat, valid, where, name, unit)
    else:
        raise DataError(_time_type_message(kind, where, name))
    return TimeColumn(micros=raw, valid=valid)


def _time_type_message(kind: pa.DataType, where: str, name: str) -> str:
    if pa.types.is_floating(kind):
        return (
            f"{where} column {name!r} is {kind}: time columns must be tz-aware timestamps or "
            "epoch integers, not floats (floats lose microseconds); convert it (an int "
            "column with missing values becomes float in pandas: use the nullable 'Int64' dtype)"
        )
    if pa.types.is_date(kind):
        return f"{where} column {name!r} is a date without a time zone; {_FIX_NAIVE}"
    return (
        f"{where} column {name!r} is {kind}: time columns must be tz-aware timestamps "
        "(UTC or any zone) or epoch integers with their unit (timestamp_unit)"
    )


def _timestamp_micros(flat: pa.Array, valid: np.ndarray, where: str, name: str) -> np.ndarray:
    kind = flat.type
    if kind.tz is None:
        raise DataError(f"{where} column {name!r} is a time-zone-naive timestamp; {_FIX_NAIVE}")
    # Arrow stores every tz-aware timestamp as a UTC instant, so the zone only matters for display.
    values = flat.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
    return _to_micros(values, valid, kind.unit, where, name)


def _to_micros(
    values: np.ndarray, valid: np.ndarray, unit: str, where: str, name: str
) -> np.ndarray:
    if unit == "us":
        return values
    if unit == "ns":
        if np.any((values % 1000 != 0) & valid):
            raise DataError(
                f"{where} column {name!r} has sub-microsecond times; featuredsl compares "
                "microseconds, so floor them explicitly first (pandas: .dt.floor('us'))"
            )
        return values // 1000
    factor = 1_000_000 if unit == "s" else 1_000
    limit = _INT64_MAX // factor
    if np.any(((values > limit) | (values < -limit)) & valid):
        raise DataError(f"{where} column {name!r} has times out of the int64 microsecond range")
    return values * factor


def _integer_micros(
    flat: pa.Array, valid: np.ndarray, where: str, name: str, unit: str | None
) -> np.ndarray:
    if unit is None:
        raise DataError(
            f"{where} column {name!r} holds plain integers and their unit is not stated; "
            "featuredsl never guesses it: pass timestamp_unit='s', 'ms', 'us' or 'ns' "
            "(--timestamp-unit on the command line), or tz-aware timestamps"
        )
    if unit not in TIMESTAMP_UNITS:
        raise ValueError(f"timestamp_unit must be one of {TIMESTAMP_UNITS}, not {unit!r}")
    try:
        as_int = flat.cast(pa.int64())
    except pa.ArrowInvalid:
        raise DataError(f"{where} column {name!r} has values beyond int64") from None
    return _to_micros(as_int.fill_null(0).to_numpy(zero_copy_only=False), valid, unit, where, name)


# ---------------------------------------------------------------- keys


def _key_array(arr: pa.ChunkedArray) -> pa.Array:
    """Normalise a key column so equal values have equal types in both tables."""
    flat = _flat(arr)
    kind = flat.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return flat.cast(pa.large_string())
    if pa.types.is_integer(kind):
        return flat.cast(pa.int64())
    if pa.types.is_floating(kind):
        # NaN is pandas' null for floats (an int key with a missing value becomes float64).
        as_float = flat.cast(pa.float64())
        return pc.if_else(pc.is_nan(as_float), pa.scalar(None, pa.float64()), as_float)
    return flat


def _align_key_types(
    label: pa.Array, feature: pa.Array, name: str, where: str
) -> tuple[pa.Array, pa.Array]:
    if label.type == feature.type:
        return label, feature
    # An all-null column (e.g. an empty pandas object column) has Arrow type null: it matches nothing.
    if pa.types.is_null(label.type):
        return pa.nulls(len(label), feature.type), feature
    if pa.types.is_null(feature.type):
        return label, pa.nulls(len(feature), label.type)
    numeric = (pa.types.is_integer, pa.types.is_floating)
    if any(t(label.type) for t in numeric) and any(t(feature.type) for t in numeric):
        return label.cast(pa.float64()), feature.cast(pa.float64())
    raise DataError(
        f"key {name!r} is {label.type} in labels but {feature.type} in {where}; cast one side "
        "so both have the same type"
    )


def _encode_one_key(label: pa.Array, feature: pa.Array) -> tuple[np.ndarray, np.ndarray, int]:
    """Dense codes for one key column: feature values -> 0..n-1, label values looked up (-1 absent)."""
    encoded = pc.dictionary_encode(feature)
    feature_codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    label_codes = pc.index_in(label, value_set=encoded.dictionary, skip_nulls=True)
    label_np = label_codes.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return label_np, feature_codes, len(encoded.dictionary)


def _combine_codes(
    label: np.ndarray,
    feature: np.ndarray,
    label_next: np.ndarray,
    feature_next: np.ndarray,
    card: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Fold one more key column into the dense joint codes; -1 (null or unmatched) stays -1."""
    feature_ok = (feature >= 0) & (feature_next >= 0)
    feature_joint = np.where(feature_ok, feature * card + feature_next, -1)
    uniques, inverse = np.unique(feature_joint[feature_ok], return_inverse=True)
    feature_dense = np.full(feature.shape, -1, dtype=np.int64)
    feature_dense[feature_ok] = inverse
    label_ok = (label >= 0) & (label_next >= 0)
    label_joint = np.where(label_ok, label * card + label_next, -1)
    return _lookup(uniques, label_joint, label_ok), feature_dense


def _lookup(uniques: np.ndarray, values: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Position of each value in the sorted `uniques`, or -1 where absent or not ok."""
    pos = _searchsorted(uniques, values, "left")
    clipped = np.minimum(pos, max(len(uniques) - 1, 0))
    found = ok & (pos < len(uniques))
    if len(uniques):
        found &= uniques[clipped] == values
    return np.where(found, pos, -1).astype(np.int64)


def key_codes(
    labels: Sequence[pa.ChunkedArray],
    features: Sequence[pa.ChunkedArray],
    names: Sequence[str],
    where: str,
    sizes: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Joint group codes for label and feature rows: equal keys <-> equal code; -1 never matches.

    With no key columns every row is in group 0 (a join on time alone); `sizes` gives the row counts.
    """
    if not names:
        return np.zeros(sizes[0], dtype=np.int64), np.zeros(sizes[1], dtype=np.int64)
    label_codes: np.ndarray | None = None
    feature_codes: np.ndarray | None = None
    for name, label_col, feature_col in zip(names, labels, features, strict=True):
        try:
            label_arr, feature_arr = _align_key_types(
                _key_array(label_col), _key_array(feature_col), name, where
            )
            label_next, feature_next, card = _encode_one_key(label_arr, feature_arr)
        except pa.ArrowException as err:
            raise DataError(
                f"key {name!r} of {where} cannot be used as a join key: {err}"
            ) from None
        if label_codes is None or feature_codes is None:
            label_codes, feature_codes = label_next, feature_next
        else:
            label_codes, feature_codes = _combine_codes(
                label_codes, feature_codes, label_next, feature_next, card
            )
    assert label_codes is not None and feature_codes is not None
    return label_codes, feature_codes


# ---------------------------------------------------------------- matching


@dataclass(frozen=True)
class _TimeScale:
    """Maps times to small non-negative codes that keep "usable at u <= label time t".

    A feature row usable at u gets 1 <= code(u) < width, a label at t gets a limit(t), and
    u <= t (u < t when strict) exactly when code(u) <= limit(t). So group * width + code is one
    sortable int64 in which "usable by t" is a prefix of the group. Offset scale: code = u - base + 1, no search
    needed. Rank scale, when groups * time span would overflow int64: code = 1-based rank of u
    among the distinct usable times, at the price of one more binary search per label.
    """

    width: int
    base: int = 0  # offset scale: the smallest usable time
    times: np.ndarray | None = None  # rank scale: sorted distinct usable times

    def code(self, usable_at: np.ndarray) -> np.ndarray:
        if self.times is not None:
            return np.searchsorted(self.times, usable_at) + 1
        return usable_at - self.base + 1

    def limit(self, label_time: np.ndarray, allow_equal: bool) -> np.ndarray:
        if self.times is not None:
            # The number of distinct usable times <= t (or < t).
            return _searchsorted(self.times, label_time, "right" if allow_equal else "left")
        # Clip first so the subtraction cannot overflow; the clipped limits keep their meaning.
        # (In-place maximum/minimum: np.clip is several times slower on large int64 arrays.)
        # Limits run from -1 to width: past either end of a group's codes (1..width-1), where
        # the group check in match_indices or the next group's codes (>= 1) take over.
        limit = np.maximum(label_time, self.base - 1)
        np.minimum(limit, self.base + self.width - 1, out=limit)
        limit -= self.base - (1 if allow_equal else 0)
        return limit


def _time_scale(usable_at: np.ndarray, n_groups: int) -> _TimeScale:
    low, high = int(usable_at.min()), int(usable_at.max())
    width = high - low + 2
    # The offset scale needs low - 1 and high + 1 in int64 and group * width + code to fit in it.
    if low > -(2**63) and high < 2**63 - 1 and n_groups * width < 2**62:
        return _TimeScale(width=width, base=low)
    times = _sorted_unique(usable_at)
    return _TimeScale(width=len(times) + 1, times=times)


@dataclass(frozen=True)
class _PrefixIndex:
    """Feature rows sorted by (group, usable-at), with the winning row of every prefix."""

    scale: _TimeScale
    combined: np.ndarray  # sorted group * scale.width + scale.code(usable-at)
    group: np.ndarray  # group of each entry of `combined`
    best_row: np.ndarray  # feature row winning among the group's entries up to here


def match_indices(
    label_group: np.ndarray,
    label_time: TimeColumn,
    feature_group: np.ndarray,
    feature_time: TimeColumn,
    created_time: TimeColumn | None = None,
    ttl_micros: int | None = None,
    allow_equal: bool = True,
) -> np.ndarray:
    """For each label row, the index of its point-in-time feature row, or -1.

    Groups are dense int64 codes (-1 = null key, never matches). A feature row becomes usable at
    ``max(feature_time, created_time)``; among the rows usable by the label time, the largest
    (feature_time, created_time, row index) wins. Sorting feature rows by (group, usable-at) turns
    "usable by time t" into a prefix of the group, and a running maximum of each row's preference
    rank then gives the winner of every prefix.
    """
    result = np.full(len(label_group), -1, dtype=np.int64)
    rows = _candidate_rows(feature_group, feature_time, created_time)
    if len(rows) == 0:
        return result
    index = _prefix_index(rows, feature_group, feature_time, created_time)
    todo = np.flatnonzero((label_group >= 0) & label_time.valid)
    lt = label_time.micros[todo]
    lg = label_group[todo]
    wanted = lg * index.scale.width + index.scale.limit(lt, allow_equal)
    pos = _searchsorted(index.combined, wanted, "right") - 1
    clipped = np.maximum(pos, 0)
    hit = (pos >= 0) & (index.group[clipped] == lg)
    chosen = index.best_row[clipped]
    if ttl_micros is not None:
        hit &= _age(lt, feature_time.micros[chosen]) <= np.uint64(ttl_micros)
    result[todo] = np.where(hit, chosen, -1)
    return result


def _prefix_index(
    rows: np.ndarray,
    feature_group: np.ndarray,
    feature_time: TimeColumn,
    created_time: TimeColumn | None,
) -> _PrefixIndex:
    ft = feature_time.micros[rows]
    ct = created_time.micros[rows] if created_time is not None else ft
    usable_at = np.maximum(ft, ct)
    # Preference order among candidates: feature time, then created time, then table order.
    preference = np.lexsort((rows, ct, ft))
    rank = np.empty(len(rows), dtype=np.int64)
    rank[preference] = np.arange(len(rows), dtype=np.int64)

    group = feature_group[rows]
    scale = _time_scale(usable_at, int(group.max()) + 1)
    combined = group * scale.width + scale.code(usable_at)
    order = np.argsort(combined, kind="stable")
    group_sorted = group[order]
    n = len(rows)
    # Offsetting by group*n makes the running maximum restart at every group boundary.
    best_rank = np.maximum.accumulate(group_sorted * n + rank[order]) - group_sorted * n
    return _PrefixIndex(scale, combined[order], group_sorted, rows[preference[best_rank]])


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    ordered = np.sort(values)
    keep = np.ones(len(ordered), dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    return ordered[keep]


def _searchsorted(
    haystack: np.ndarray, needles: np.ndarray, side: Literal["left", "right"]
) -> np.ndarray:
    """np.searchsorted, but probing in (roughly) sorted order: random probes miss the cache."""
    order = _rough_order(needles)
    if order is None:
        return np.searchsorted(haystack, needles, side=side)
    found = np.empty(len(needles), dtype=np.int64)
    found[order] = np.searchsorted(haystack, needles[order], side=side)
    return found


def _rough_order(values: np.ndarray) -> np.ndarray | None:
    """A permutation sorting `values` up to their low bits, or None when not worth it.

    Packs (value - min) >> shift and the row number into one uint64 so that a plain np.sort (much
    faster than argsort) yields the permutation. Only the speed of the caller depends on it.
    """
    n = len(values)
    if n < 1 << 16:
        return None
    index_bits = n.bit_length()
    # Unsigned wrap-around gives the exact distance to the minimum, even across int64's range.
    packed = values.view(np.uint64) - values.min().view(np.uint64)
    shift = max(0, int(packed.max()).bit_length() - (64 - index_bits))
    packed >>= np.uint64(shift)
    packed <<= np.uint64(index_bits)
    packed |= np.arange(n, dtype=np.uint64)
    packed.sort()
    packed &= np.uint64((1 << index_bits) - 1)
    return packed.view(np.int64)


def _candidate_rows(
    group: np.ndarray, feature_time: TimeColumn, created_time: TimeColumn | None
) -> np.ndarray:
    ok = (group >= 0) & feature_time.valid
    if created_time is not None:
        # A row without a created time may have been written any time: never trust it.
        ok &= created_time.valid
    return np.flatnonzero(ok)


def _age(label_time: np.ndarray, feature_time: np.ndarray) -> np.ndarray:
    """label_time - feature_time (>= 0 for matches) without int64 overflow."""
    return label_time.view(np.uint64) - feature_time.view(np.uint64)


# ---------------------------------------------------------------- join


def join(
    labels: Any,
    features: Any,
    *,
    on: Keys,
    label_time: str,
    feature_time: str | None = None,
    ttl: TTL | None = None,
    created_time: str | None = None,
    allow_equal: bool = True,
    prefix: str | None = None,
    with_age: bool = False,
    timestamp_unit: str | None = None,
) -> Any:
    """Point-in-time join of one or several feature tables onto label rows.

    ``features`` is a DataFrame/Table or a list of them and of FeatureTable specs; the keyword
    arguments are the defaults for every feature table. Returns the same kind as ``labels``, with
    label rows in their original order, every label column kept and the feature columns (all but
    the keys, prefixed) appended; unmatched rows get nulls.

    With ``with_age``, each feature table also adds ``<prefix><feature_time>_age``: the age of
    the picked row, label time - feature time in int64 microseconds (>= 0; saturated at
    INT64_MAX in the one case it cannot be held, an age beyond 292,000 years), null when no
    row was picked. It records how stale each training value was (docs/freshness.md).

    Time columns are tz-aware timestamps, or plain integers counting ``timestamp_unit`` ("s",
    "ms", "us", "ns") since the epoch; plain integers without a stated unit are a DataError
    (never read in a guessed unit). TTLs are durations, whatever the unit of the times.
    """
    _check_table(labels, "labels")
    specs = _resolve_all(features, on, feature_time, ttl, created_time, prefix)
    label_keys_all = {name for spec in specs for name in spec.on}
    label_cols = {name: column(labels, name, "labels") for name in sorted(label_keys_all)}
    lt = time_micros(column(labels, label_time, "labels"), "labels", label_time, timestamp_unit)
    taken = set(_column_names(labels))
    parts = []
    for spec in specs:
        names = _output_names(spec, taken)
        age_name = f"{spec.prefix}{spec.feature_time}_age" if with_age else None
        _check_new_name(spec, age_name, taken | set(names.values()))
        taken.update(names.values())
        keys = [label_cols[k] for k in spec.on]
        idx, ft = _match_spec(spec, keys, lt, allow_equal, timestamp_unit)
        parts.append(_gather(spec.table, idx, labels, names))
        if age_name is not None:
            taken.add(age_name)
            parts.append(_age_part(age_name, lt, ft, idx, labels))
    return _assemble(labels, parts)


def _check_new_name(spec: _Resolved, name: str | None, taken: set[str]) -> None:
    if name is not None and (name in taken or name in _column_names(spec.table)):
        raise DataError(
            f"{spec.name}: the age column {name!r} would clash with an existing column; give "
            "this feature table a prefix (prefix=... or --prefix)"
        )


def picked_age(lt: TimeColumn, ft: TimeColumn, idx: np.ndarray) -> pa.Array:
    """label time - feature time of the picked rows (int64 microseconds; null where idx < 0)."""
    hit = idx >= 0
    age = np.zeros(len(idx), dtype=np.uint64)
    age[hit] = _age(lt.micros[hit], ft.micros[idx[hit]])
    saturated = np.minimum(age, np.uint64(_INT64_MAX)).astype(np.int64)
    return pa.array(saturated, type=pa.int64(), mask=~hit)


def _age_part(name: str, lt: TimeColumn, ft: TimeColumn, idx: np.ndarray, labels: Any) -> Any:
    age = picked_age(lt, ft, idx)
    if _is_pandas(labels):
        import pandas as pd

        return pd.DataFrame({name: pd.array(age.to_pandas(), dtype="Int64")}).set_axis(labels.index)
    return pa.table({name: age})


def _resolve_all(
    features: Any,
    on: Keys,
    feature_time: str | None,
    ttl: TTL | None,
    created_time: str | None,
    prefix: str | None,
) -> list[_Resolved]:
    single = not isinstance(features, list | tuple)
    items = [features] if single else list(features)
    if not items:
        raise DataError("features is empty: pass at least one feature table")
    defaults = FeatureTable(None, on, feature_time, ttl, created_time, prefix)
    resolved = []
    for i, item in enumerate(items):
        spec = item if isinstance(item, FeatureTable) else FeatureTable(item)
        where = spec.name or ("features" if single else f"features[{i}]")
        resolved.append(_resolve(spec, defaults, where))
    return resolved


def _resolve(spec: FeatureTable, defaults: FeatureTable, where: str) -> _Resolved:
    _check_table(spec.table, where)
    keys = spec.on if spec.on is not None else defaults.on
    if keys is None:
        raise DataError(f"{where}: no join keys; pass on=... (an empty list joins on time alone)")
    keys = (keys,) if isinstance(keys, str) else tuple(keys)
    ft = spec.feature_time or defaults.feature_time
    if ft is None:
        raise DataError(f"{where}: no feature time column; pass feature_time=...")
    return _Resolved(
        table=spec.table,
        on=keys,
        feature_time=ft,
        ttl_micros=parse_ttl(spec.ttl if spec.ttl is not None else defaults.ttl),
        created_time=spec.created_time or defaults.created_time,
        prefix=(spec.prefix if spec.prefix is not None else defaults.prefix) or "",
        name=where,
    )


def _output_names(spec: _Resolved, taken: set[str]) -> dict[str, str]:
    """Feature column -> output column; a clash with a label or earlier feature column is an error."""
    names: dict[str, str] = {}
    for name in _column_names(spec.table):
        if name in spec.on:
            continue
        out = spec.prefix + name
        if out in taken or out in names.values():
            raise DataError(
                f"{spec.name} column {name!r} would be added as {out!r}, which already exists "
                "in the result; give this feature table a prefix (prefix=... or --prefix)"
            )
        names[name] = out
    return names


def _match_spec(
    spec: _Resolved,
    label_keys: list[pa.ChunkedArray],
    lt: TimeColumn,
    allow_equal: bool,
    unit: str | None = None,
) -> tuple[np.ndarray, TimeColumn]:
    where = spec.name
    feature_keys = [column(spec.table, k, where) for k in spec.on]
    sizes = (len(lt.micros), _num_rows(spec.table))
    label_group, feature_group = key_codes(label_keys, feature_keys, spec.on, where, sizes)
    ft = time_micros(column(spec.table, spec.feature_time, where), where, spec.feature_time, unit)
    ct = None
    if spec.created_time is not None:
        created = column(spec.table, spec.created_time, where)
        ct = time_micros(created, where, spec.created_time, unit)
    idx = match_indices(label_group, lt, feature_group, ft, ct, spec.ttl_micros, allow_equal)
    return idx, ft


def _gather(table: Any, idx: np.ndarray, labels: Any, names: dict[str, str]) -> Any:
    """The chosen feature rows (nulls where idx == -1), renamed, in the same kind as labels."""
    columns = list(names)
    if isinstance(table, pa.Table):
        picked = _take(table.select(columns), idx).rename_columns([names[c] for c in columns])
        return picked.to_pandas().set_axis(labels.index) if _is_pandas(labels) else picked
    if not _is_pandas(labels):
        # Through Arrow first, so int and bool columns stay int and bool with nulls.
        arrow = _pandas_to_arrow(table[columns])
        return _gather(arrow, idx, labels, {c: names[c] for c in columns})
    # reindex() fills -1 with the column's null and upcasts like pandas.merge_asof (int -> float64).
    picked = table[columns].reset_index(drop=True).reindex(idx)
    picked.columns = [names[c] for c in columns]
    return picked.set_axis(labels.index)


def _take(table: pa.Table, idx: np.ndarray) -> pa.Table:
    if table.num_rows == 0:
        # Arrow's take on a table without chunks returns no rows at all, not null rows.
        return pa.table([pa.nulls(len(idx), f.type) for f in table.schema], schema=table.schema)
    return table.take(pa.array(idx, mask=idx < 0))


def _pandas_to_arrow(frame: Any) -> pa.Table:
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError) as err:
        raise DataError(f"feature columns cannot be converted to Arrow: {err}") from None


def _assemble(labels: Any, parts: list[Any]) -> Any:
    if isinstance(labels, pa.Table):
        out = labels
        for part in parts:
            for name, col in zip(part.column_names, part.columns, strict=True):
                out = out.append_column(name, col)
        return out
    import pandas as pd

    return pd.concat([labels, *parts], axis=1)
