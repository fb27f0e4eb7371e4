"""Offline/online store consistency: were the served values the ones the offline table held?

For every logged request row (its entity key and prediction time), the offline table is looked up
point-in-time correct at that time (featuredsl.joins.pit: the latest offline row of the key whose
offline time is <= the prediction time) and each raw served value is compared with the offline
one, column by column. Per column a row is one of:

- match: both present and equal (exact: floats bit for bit up to -0.0 == 0.0), or both null;
- mismatch: both present and different;
- missing online: served null, offline present;
- missing offline: served present, offline null or no offline row for the key at that time.

A row matches when every compared column matches. The sync lag is estimated from the mismatched
rows: for each, the offline rows of its key that held exactly the served values give the
interval of lags that would explain it ((t - f_next, t - f], where f is the latest such offline
time and f_next the next one); the lag covered by the most intervals is the estimate (the middle
of that stretch), and its confidence is the share of mismatched rows it explains.

(Not to be confused with featuredsl.parity.consistency, which compares two feature functions
on the same cases.)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featuredsl.artifact.contract import MASK_SUFFIX
from featuredsl.errors import DataError
from featuredsl.joins import pit
from featuredsl.language.durations import human_duration
from featuredsl.monitor.serving_log import read_log

OFFLINE_PREFIX = "offline:"
MAX_STEPS_BACK = 10_000  # offline rows searched per mismatched row for the served values


@dataclass(frozen=True)
class ColumnAgreement:
    """One compared column: counts of rows by outcome."""

    name: str
    rows: int
    match: int
    mismatch: int
    missing_online: int
    missing_offline: int

    @property
    def match_rate(self) -> float:
        return self.match / self.rows if self.rows else 1.0


@dataclass(frozen=True)
class KeyAgreement:
    """A key with mismatched rows: its value(s) as text, requests and mismatched requests."""

    key: str
    rows: int
    mismatched: int


@dataclass(frozen=True)
class SyncLag:
    """The shift between offline and online that best explains the mismatches (microseconds)."""

    lag: int  # the estimate: the middle of the best-supported stretch [low, high]
    low: int
    high: int
    explained: int  # mismatched rows this lag explains
    mismatched: int  # all mismatched rows
    confidence: float  # explained / mismatched


@dataclass(frozen=True)
class StoreConsistencyReport:
    """The outcome of `check_store_consistency`; rates are shares of logged rows."""

    rows: int
    matched_rows: int  # every compared column matches
    mismatched_rows: int  # at least one column mismatches
    no_offline_row: int  # no offline row for the key at the prediction time
    columns: tuple[ColumnAgreement, ...]
    worst_keys: tuple[KeyAgreement, ...]
    lag: SyncLag | None
    keys: tuple[str, ...]
    time: str
    offline_time: str

    @property
    def match_rate(self) -> float:
        return self.matched_rows / self.rows if self.rows else 1.0

    @property
    def mismatch_rate(self) -> float:
        return self.mismatched_rows / self.rows if self.rows else 0.0

    def headline(self) -> str:
        text = (
            f"{self.rows:,} served rows: {self.match_rate:.2%} match the offline table, "
            f"{self.mismatch_rate:.2%} mismatch"
        )
        if self.no_offline_row:
            text += f", {self.no_offline_row:,} have no offline row at their prediction time"
        return text

    def lag_text(self) -> str:
        if self.lag is None:
            return (
                "no sync lag: no mismatched row"
                if not self.mismatched_rows
                else (
                    "no sync lag explains the mismatches: no offline row ever held the served values"
                )
            )
        lag = self.lag
        return (
            f"estimated sync lag {human_duration(lag.lag)} ({lag.lag / 1e6:,.0f} s; any lag from "
            f"{lag.low / 1e6:,.0f} s to {lag.high / 1e6:,.0f} s fits): it explains "
            f"{lag.explained:,} of {lag.mismatched:,} mismatched rows (confidence "
            f"{lag.confidence:.0%})"
        )


def logged_table(log: str | Path, *, fingerprint: str | None = None) -> pa.Table:
    """The raw inputs of every logged request row as one Arrow table: masks and NaN as nulls,
    timestamps as int64 microseconds. DataError when the log holds no request."""
    parts: dict[str, list[pa.Array]] = defaultdict(list)
    rows = 0
    for record in read_log(log, fingerprint=fingerprint):
        for name, values in record.inputs.items():
            if name.endswith(MASK_SUFFIX) and name[: -len(MASK_SUFFIX)] in record.inputs:
                continue
            null = record.inputs.get(name + MASK_SUFFIX)
            if values.dtype.kind == "f":
                null = np.isnan(values) if null is None else null | np.isnan(values)
            parts[name].append(
                pa.array(values.tolist() if values.dtype.kind == "O" else values, mask=null)
            )
        rows += record.rows
    if rows == 0:
        raise DataError(
            f"{log}: the serving log holds no request"
            + (f" of {fingerprint}" if fingerprint else "")
        )
    return pa.table({name: pa.concat_arrays(arrays) for name, arrays in parts.items()})


def check_store_consistency(
    served: pa.Table,
    offline: Any,
    *,
    on: str | Sequence[str],
    time: str,
    offline_time: str,
    columns: Iterable[str] | None = None,
    worst: int = 10,
    timestamp_unit: str | None = None,
) -> StoreConsistencyReport:
    """Compare served raw values with the offline table, point-in-time correct.

    Args:
        served: one row per served request row (`logged_table`), with the key(s), the
            prediction-time column `time` (int64 µs UTC or tz-aware) and the compared columns.
        offline: the offline table (pandas DataFrame or Arrow table) with the key(s), its time
            column `offline_time` (when each row became valid) and the compared columns.
        on: the entity key column(s), present in both.
        columns: the columns to compare (default: every column of both tables but the keys and
            the prediction time).
        worst: how many keys to list, most mismatched first.
        timestamp_unit: the unit ("s", "ms", "us", "ns") of the offline table's time column
            when it holds plain integers; without it such a column is refused, never read in a
            guessed unit. (The serving log's times are int64 microseconds by definition.)

    Raises:
        DataError: a missing column, types that cannot be compared, or no column to compare.
    """
    keys = (on,) if isinstance(on, str) else tuple(on)
    if not isinstance(offline, pa.Table):
        offline = pa.Table.from_pandas(offline, preserve_index=False)
    for name in (*keys, time):
        if name not in served.column_names:
            raise DataError(
                f"the serving log has no column {name!r} (it has {', '.join(served.column_names)}); "
                "the entity key and the prediction time must be inputs of the spec to be logged"
            )
    served = _typed_time(served, time, "the serving log", "us")
    if offline_time in offline.column_names:
        offline = _typed_time(offline, offline_time, "the offline table", timestamp_unit)
    compared = _columns(served, offline, keys, time, offline_time, columns)
    picked = offline.select([*keys, *dict.fromkeys([offline_time, *compared])])
    joined = pit.join(
        served.select([*keys, time]),
        picked,
        on=list(keys),
        label_time=time,
        feature_time=offline_time,
        prefix=OFFLINE_PREFIX,
    )
    has_row = joined.column(OFFLINE_PREFIX + offline_time).is_valid().to_numpy(zero_copy_only=False)
    outcomes = {}
    agreements = []
    for name in compared:
        outcome = _compare(name, served.column(name), joined.column(OFFLINE_PREFIX + name))
        outcomes[name] = outcome
        agreements.append(
            ColumnAgreement(
                name,
                served.num_rows,
                int(outcome["match"].sum()),
                int(outcome["mismatch"].sum()),
                int(outcome["missing_online"].sum()),
                int(outcome["missing_offline"].sum()),
            )
        )
    matched = np.logical_and.reduce([o["match"] for o in outcomes.values()])
    mismatched = np.logical_or.reduce([o["mismatch"] for o in outcomes.values()])
    key_text = _key_text(served, keys)
    return StoreConsistencyReport(
        rows=served.num_rows,
        matched_rows=int(matched.sum()),
        mismatched_rows=int(mismatched.sum()),
        no_offline_row=int((~has_row).sum()),
        columns=tuple(agreements),
        worst_keys=_worst_keys(key_text, mismatched, worst),
        lag=_sync_lag(served, offline, keys, time, offline_time, compared, key_text, mismatched),
        keys=keys,
        time=time,
        offline_time=offline_time,
    )


def _columns(
    served: pa.Table,
    offline: pa.Table,
    keys: tuple[str, ...],
    time: str,
    offline_time: str,
    columns: Iterable[str] | None,
) -> list[str]:
    if offline_time not in offline.column_names:
        raise DataError(f"the offline table has no column {offline_time!r}")
    for name in keys:
        if name not in offline.column_names:
            raise DataError(f"the offline table has no key column {name!r}")
    if columns is not None:
        wanted = list(columns)
        for name in wanted:
            for side, table in (("serving log", served), ("offline table", offline)):
                if name not in table.column_names:
                    raise DataError(f"the {side} has no column {name!r} to compare")
        return wanted
    skip = {*keys, time}
    wanted = [c for c in served.column_names if c in offline.column_names and c not in skip]
    if not wanted:
        raise DataError(
            f"the serving log and the offline table share no column to compare besides the keys "
            f"(log: {', '.join(served.column_names)}; offline: {', '.join(offline.column_names)})"
        )
    return wanted


def _compare(name: str, online: pa.ChunkedArray, offline: pa.ChunkedArray) -> dict[str, np.ndarray]:
    online_flat, offline_flat = _flat(online), _flat(offline)
    if online_flat.type != offline_flat.type:
        try:
            offline_flat = offline_flat.cast(online_flat.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise DataError(
                f"column {name!r} is {online_flat.type} in the serving log but "
                f"{offline_flat.type} offline; cast the offline column"
            ) from None
    on_null = online_flat.is_null().to_numpy(zero_copy_only=False)
    off_null = offline_flat.is_null().to_numpy(zero_copy_only=False)
    equal = pc.equal(online_flat, offline_flat).fill_null(False).to_numpy(zero_copy_only=False)
    both = ~on_null & ~off_null
    return {
        "match": (both & equal) | (on_null & off_null),
        "mismatch": both & ~equal,
        "missing_online": on_null & ~off_null,
        "missing_offline": ~on_null & off_null,
    }


def _flat(array: pa.ChunkedArray) -> pa.Array:
    flat = pa.concat_arrays(array.chunks) if array.num_chunks else pa.array([], type=array.type)
    if pa.types.is_dictionary(flat.type):
        flat = flat.dictionary_decode()
    if pa.types.is_timestamp(flat.type):
        flat = pa.array(
            pit.time_micros(pa.chunked_array([flat]), "data", "time").micros,
            mask=flat.is_null().to_numpy(zero_copy_only=False),
        )
    if pa.types.is_string(flat.type):
        flat = flat.cast(pa.large_string())
    return flat


def _key_text(table: pa.Table, keys: tuple[str, ...]) -> list[str]:
    values = [table.column(k).to_pylist() for k in keys]
    return [", ".join(str(v) for v in row) for row in zip(*values, strict=True)]


def _worst_keys(
    key_text: list[str], mismatched: np.ndarray, worst: int
) -> tuple[KeyAgreement, ...]:
    rows: dict[str, int] = defaultdict(int)
    bad: dict[str, int] = defaultdict(int)
    for key, wrong in zip(key_text, mismatched.tolist(), strict=True):
        rows[key] += 1
        bad[key] += wrong
    ranked = sorted((k for k in bad if bad[k]), key=lambda k: (-bad[k], -bad[k] / rows[k], k))
    return tuple(KeyAgreement(k, rows[k], bad[k]) for k in ranked[:worst])


def _typed_time(table: pa.Table, name: str, where: str, unit: str | None) -> pa.Table:
    """`table` with an integer time column `name` (counting `unit`) as UTC timestamps[us]."""
    if name not in table.column_names or not pa.types.is_integer(table.column(name).type):
        return table
    times = pit.time_micros(table.column(name), where, name, unit)
    typed = pa.array(times.micros, pa.int64(), mask=~times.valid)
    index = table.schema.get_field_index(name)
    return table.set_column(index, name, typed.cast(pa.timestamp("us", tz="UTC")))


def _micros(table: pa.Table, name: str, where: str) -> np.ndarray:
    column = pit.time_micros(table.column(name), where, name)
    return np.where(column.valid, column.micros, np.iinfo(np.int64).min)


def _sync_lag(
    served: pa.Table,
    offline: pa.Table,
    keys: tuple[str, ...],
    time: str,
    offline_time: str,
    compared: list[str],
    key_text: list[str],
    mismatched: np.ndarray,
) -> SyncLag | None:
    rows = np.flatnonzero(mismatched)
    if len(rows) == 0:
        return None
    now = _micros(served, time, "serving log")
    history = _history(offline, keys, offline_time, compared)
    served_values = list(zip(*(_values(_flat(served.column(c))) for c in compared), strict=True))
    intervals = []
    for row in rows.tolist():
        times, values = history.get(key_text[row], ((), ()))
        interval = _explaining(int(now[row]), served_values[row], times, values)
        if interval is not None:
            intervals.append(interval)
    if not intervals:
        return None
    low, high, count = _best_stretch(intervals)
    return SyncLag((low + high) // 2, low, high, count, len(rows), count / len(rows))


def _values(flat: pa.Array) -> list[Any]:
    return flat.to_pylist()


def _history(
    offline: pa.Table, keys: tuple[str, ...], offline_time: str, compared: list[str]
) -> dict[str, tuple[list[int], list[tuple[Any, ...]]]]:
    """key text -> (offline times ascending, the compared values of each row)."""
    times = _micros(offline, offline_time, "offline table")
    order = np.argsort(times, kind="stable")
    key_text = _key_text(offline, keys)
    columns = [_values(_flat(offline.column(c))) for c in compared]
    history: dict[str, tuple[list[int], list[tuple[Any, ...]]]] = defaultdict(lambda: ([], []))
    for i in order.tolist():
        entry = history[key_text[i]]
        entry[0].append(int(times[i]))
        entry[1].append(tuple(column[i] for column in columns))
    return dict(history)


def _explaining(
    now: int, served: tuple[Any, ...], times: Sequence[int], values: Sequence[tuple[Any, ...]]
) -> tuple[int, int] | None:
    """The lags (low, high], as [low + 1, high], for which the offline row picked at now - lag
    holds exactly the served values: the latest such row f <= now gives high = now - f, and the
    next row's time f_next gives low = now - f_next."""
    end = int(np.searchsorted(np.asarray(times, dtype=np.int64), now, side="right"))
    for index in range(end - 1, max(-1, end - 1 - MAX_STEPS_BACK), -1):
        if values[index] == served:
            high = now - times[index]
            if index + 1 < end:
                return now - times[index + 1] + 1, high
            return 0, high  # the current row itself: no lag needed (another column differs)
    return None


def _best_stretch(intervals: list[tuple[int, int]]) -> tuple[int, int, int]:
    """The stretch [low, high] covered by the most closed intervals, and how many cover it."""
    events = sorted([(low, 0) for low, _ in intervals] + [(high, 1) for _, high in intervals])
    best, count, start = 0, 0, 0
    best_low = best_high = 0
    for index, (point, kind) in enumerate(events):
        if kind == 0:
            count += 1
            if count > best:
                best, start = count, point
                # the stretch ends at the next event that closes an interval
                best_low = start
                best_high = next(p for p, k in events[index + 1 :] if k == 1)
        else:
            count -= 1
    return best_low, best_high, best
