"""Training backfill of window aggregates: each label row's value at its prediction time.

For every label row (entity key, prediction time ``T``) and every requested aggregate, the
backfill computes what serving computes for that row: the aggregate over the entity's events
with ``T - L - W <= t < T - L`` (docs/windows.md). Point-in-time correct by construction: an
event at or after ``T - L`` is never read.

How (all vectorised, no Python loop over rows or events):

1. the event table is sorted once by (entity, event time), stable, so events with equal times
   keep their table order;
2. each distinct entity owns one contiguous block of the sorted table; a label row's candidate
   segment is its entity's block (empty for an entity without events);
3. the window kernels of ``backends/numpy/windows.py`` (the same text the generated numpy module
   embeds for serving) find each row's window inside its block by binary search and aggregate
   it; float sums and means go through ``exact_sums``.

Memory: a few arrays the size of the event table (the sort permutation, the sorted times, one
sorted value column and its prefix arrays at a time) plus a few the size of the label table;
nothing is ever the size of (label rows x events).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import numpy as np

from featuredsl.backends.numpy import windows
from featuredsl.backends.numpy.exact_sum import exact_sums
from featuredsl.compiler.types import DType
from featuredsl.errors import DataError

__all__ = [
    "AggregateKind",
    "Column",
    "WindowRequest",
    "backfill",
    "entity_blocks",
    "entity_time_order",
]

AggregateKind = Literal["count", "sum", "mean", "min", "max", "first", "last", "nth_last"]
Column = tuple[np.ndarray, "np.ndarray | None"]
"""An event value column: (values[E], null mask bool[E] or None when the column has no nulls)."""

_NUMPY_DTYPES: dict[DType, frozenset[str]] = {
    DType.FLOAT: frozenset({"float64"}),
    DType.INT: frozenset({"int64"}),
    DType.TIMESTAMP: frozenset({"int64"}),
    DType.BOOL: frozenset({"bool"}),
    DType.STRING: frozenset({"object", "str"}),
}
_KINDS_OF: dict[str, frozenset[DType]] = {
    "sum": frozenset({DType.INT, DType.FLOAT}),
    "mean": frozenset({DType.INT, DType.FLOAT}),
    "min": frozenset({DType.INT, DType.FLOAT, DType.TIMESTAMP}),
    "max": frozenset({DType.INT, DType.FLOAT, DType.TIMESTAMP}),
}


@dataclass(frozen=True, eq=False)
class WindowRequest:
    """One window aggregate to backfill.

    ``kind``: the aggregate. ``column``: the event value column, or None for a count of events
    (only ``count`` may omit it). ``dtype``: the column's declared type (None with no column).
    ``included``: bool[E] in event-table order, true where the event counts (its ``where =``
    filter is true and, for a value column, its value is not null); the backfill also drops
    null values itself, so a mask that forgets them is still safe. ``length`` (W >= 1) and
    ``lag`` (L >= 0) in µs, ``L + W < 2**62``. ``n``: for ``nth_last``, which latest event
    (1 = the latest).
    """

    kind: AggregateKind
    column: str | None
    dtype: DType | None
    included: np.ndarray
    length: int
    lag: int = 0
    n: int = 1


def backfill(
    label_keys: np.ndarray,
    label_times: np.ndarray,
    event_keys: np.ndarray,
    event_times: np.ndarray,
    columns: Mapping[str, Column],
    requests: Sequence[WindowRequest],
) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Every request's value for every label row, in label-row order.

    Inputs: ``label_keys`` [N] and ``event_keys`` [E], both int64 or both str (object or
    unicode arrays), never null (the caller refuses null keys); ``label_times`` int64[N] and
    ``event_times`` int64[E], microseconds since the epoch (UTC); ``columns`` maps a value
    column name to (values[E], null mask bool[E] or None): float64 (NaN = null), int64 (ints,
    timestamps), bool or object str.

    Returns one ``(values[N], missing)`` pair per request, in request order:
    ``count`` int64 and ``sum`` of ints int64 (wrapping) with ``missing`` None; ``sum`` of floats
    float64 (exact, +0.0 for zero) with None; ``mean`` float64, NaN and True where the window has
    no value; ``min``/``max`` in the column's dtype, ``first``/``last``/``nth_last`` in any dtype,
    with a bool[N] mask (values under it: NaN, 0, False or "").

    Raises DataError when an array has the wrong length or dtype, or a request names a column
    that is not in ``columns``; ValueError for a malformed request (an aggregate the value type
    does not have, a window length < 1, a lag < 0, n < 1).
    """
    n_events = _check_tables(label_keys, label_times, event_keys, event_times)
    for request in requests:
        _check_request(request, columns, n_events)
    order, starts, ends = entity_blocks(label_keys, event_keys, event_times)
    times = event_times[order]
    bounds = {
        (length, lag): windows.window_bounds(times, starts, ends, label_times, length, lag)
        for length, lag in dict.fromkeys((r.length, r.lag) for r in requests)
    }
    del times
    results: list[tuple[np.ndarray, np.ndarray | None]] = [(np.empty(0), None)] * len(requests)
    # Requests on one column with one included mask form a group: each kernel runs once per
    # group over all of the group's windows. Groups are taken column by column, so one sorted
    # value column is alive at a time.
    groups: dict[tuple[str, int], list[int]] = {}
    for index, request in enumerate(requests):
        groups.setdefault((request.column or "", id(request.included)), []).append(index)
    sorted_column: tuple[str | None, np.ndarray | None] = (None, None)
    for key in sorted(groups, key=lambda group: group[0]):
        column, members = key[0], groups[key]
        first = requests[members[0]]
        values = None
        if first.column is not None:
            if sorted_column[0] != column:
                sorted_column = (None, None)  # free the previous column before sorting the next
                sorted_column = (column, columns[column][0][order])
            values = sorted_column[1]
        included = _included(first, columns, values, order)
        group = [requests[i] for i in members]
        for index, result in zip(members, _group(group, values, included, bounds), strict=True):
            results[index] = result
    return results


def entity_blocks(
    label_keys: np.ndarray, event_keys: np.ndarray, event_times: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort the events by (entity, time) and find each label row's block of them.

    ``label_keys`` [N], ``event_keys`` [E] (int64, or str as object/unicode arrays),
    ``event_times`` int64[E] µs. Returns ``order`` int64[E], the stable sort permutation of the
    events by (key, time) (ties keep table order), and ``starts``,
    ``ends`` int64[N]: label row ``i``'s entity's events are ``order[starts[i]:ends[i]]``
    (``starts == ends == 0`` for an entity with no events).

    The sort is :func:`entity_time_order`; the blocks are the runs of equal keys in sorted
    order, found for the label rows by ``np.searchsorted`` over the distinct keys.
    """
    if event_keys.size == 0:
        empty = np.zeros(len(label_keys), dtype=np.int64)
        return np.zeros(0, dtype=np.int64), empty, empty.copy()
    order = entity_time_order(event_keys, event_times)
    sorted_keys = event_keys[order]
    changes = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
    block_starts = np.concatenate(([0], changes))
    block_ends = np.concatenate((changes, [order.size]))
    distinct = sorted_keys[block_starts]
    slot = np.minimum(np.searchsorted(distinct, label_keys), distinct.size - 1)
    known = distinct[slot] == label_keys
    starts = np.where(known, block_starts[slot], 0)
    ends = np.where(known, block_ends[slot], 0)
    return order.astype(np.int64, copy=False), starts, ends


def entity_time_order(event_keys: np.ndarray, event_times: np.ndarray) -> np.ndarray:
    """The stable sort permutation of the events by (key, time): int64[E].

    ``event_keys`` [E] int64 or str, ``event_times`` int64[E] µs; E < 3 * 10**9. Events with
    equal key and time keep their table order.

    Algorithm (two passes that each need no stable sort): first each event's rank in time order,
    ties by table position (an unstable ``argsort`` whose runs of equal times are then put back
    in table order; skipped when the table is already in time order), so the rank is unique and
    carries the tie order. Then every event gets the integer ``code * E + rank``, where
    ``code`` numbers the keys in sorted order (``key - min(key)`` for integer keys whose range
    allows it, else the key's index among the distinct keys from ``np.unique``); the codes are
    unique, so sorting them by value (``np.sort``, the fastest sort numpy has) gives the
    order, and ``code % E`` the rank back. The usual two stable sorts (by time, then by key)
    give the same permutation at two to three times the cost.
    """
    size = event_times.size
    if size == 0:
        return np.zeros(0, dtype=np.int64)
    if event_keys.dtype.kind in "iu" and _in_entity_time_order(event_keys, event_times):
        return np.arange(size, dtype=np.int64)  # already sorted (a table sorted once, reused)
    if np.all(event_times[1:] >= event_times[:-1]):
        by_time = np.arange(size, dtype=np.int64)
    else:
        by_time = _argsort_ties_in_place(event_times)
    rank = np.empty(size, dtype=np.int64)
    rank[by_time] = np.arange(size, dtype=np.int64)
    low = int(event_keys.min()) if event_keys.dtype.kind in "iu" else 0
    if event_keys.dtype.kind in "iu" and (int(event_keys.max()) - low + 1) * size < 2**63:
        code = (event_keys - event_keys.dtype.type(low)).astype(np.int64, copy=False)
    else:
        code = np.unique(event_keys, return_inverse=True)[1].astype(np.int64).reshape(-1)
    code *= size
    code += rank
    del rank
    code.sort()
    code %= size
    return by_time[code]


def _in_entity_time_order(keys: np.ndarray, times: np.ndarray) -> bool:
    """Whether integer keys never decrease and times never decrease within a key: O(E)."""
    later_key = keys[1:] > keys[:-1]
    same_key = keys[1:] == keys[:-1]
    return bool(np.all(later_key | (same_key & (times[1:] >= times[:-1]))))


def _argsort_ties_in_place(x: np.ndarray) -> np.ndarray:
    """A stable argsort of int64[E] from numpy's fast unstable one: runs of equal values are
    re-sorted by position (a lexsort over the tied elements only)."""
    order = np.argsort(x)
    ordered = x[order]
    tie = ordered[1:] == ordered[:-1]
    if tie.any():
        tied = np.zeros(x.size, dtype=bool)
        tied[1:] |= tie
        tied[:-1] |= tie
        where = np.flatnonzero(tied)
        sub = order[where]
        order[where] = sub[np.lexsort((sub, ordered[where]))]
    return order


def _included(
    request: WindowRequest,
    columns: Mapping[str, Column],
    values: np.ndarray | None,
    order: np.ndarray,
) -> np.ndarray:
    """The request's included mask in sorted event order (``values`` already sorted), nulls
    removed."""
    included = request.included[order]
    if request.column is not None and values is not None:
        nulls = columns[request.column][1]
        if nulls is not None:
            included &= ~nulls[order]
        if values.dtype.kind == "f":
            included &= ~np.isnan(values)
    return included


Window = tuple[int, int]
"""(length, lag) in µs."""
Bounds = Mapping[Window, tuple[np.ndarray, np.ndarray]]

RANGES_PER_CALL = 1 << 22
"""A kernel call covers several windows at once (their (lo, hi) ranges concatenated) while the
total stays within this many ranges, or one window when a window alone has more: it bounds the
kernels' per-range memory (exact_sums keeps a few int64 limbs per range)."""


def _group(
    group: Sequence[WindowRequest],
    values: np.ndarray | None,
    included: np.ndarray,
    bounds: Bounds,
) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Results of requests that share a sorted value column (None: counts of events) and an
    included mask, in the group's order.

    Each kernel runs once over all the windows that need it (:func:`_per_window`): the exact
    float sums, for instance, pass over the events once for the sums and means of every window.
    """
    ops = [_op(request) for request in group]
    done: dict[str, dict[Window, Any]] = {}
    for op in dict.fromkeys(ops):
        wanted = list(
            dict.fromkeys((r.length, r.lag) for r, o in zip(group, ops, strict=True) if o == op)
        )
        done[op] = _per_window(wanted, bounds, _kernel(op, values, included))
    out: list[tuple[np.ndarray, np.ndarray | None]] = []
    for request, op in zip(group, ops, strict=True):
        window = (request.length, request.lag)
        result = done[op][window]
        if request.kind == "mean":
            sums, counts = result
            missing = counts == 0
            means = np.full(missing.size, np.nan)
            np.divide(sums, counts, out=means, where=~missing)  # one IEEE division
            out.append((means, missing))
        elif op == "float_sum":
            out.append((result[0], None))
        elif isinstance(result, tuple):
            out.append(result)
        else:
            out.append((result, None))
    return out


def _op(request: WindowRequest) -> str:
    """The kernel a request needs; requests with equal ops share kernel calls."""
    if request.kind == "count" or request.column is None:
        return "count"
    if request.kind == "sum" and request.dtype == DType.INT:
        return "sum_int"
    if request.kind in ("sum", "mean"):
        return "float_sum"  # (exact sums, counts): float sums and means share the pass
    if request.kind in ("last", "nth_last"):
        return f"nth_last {request.n if request.kind == 'nth_last' else 1}"
    return request.kind


def _kernel(
    op: str, values: np.ndarray | None, included: np.ndarray
) -> Callable[[np.ndarray, np.ndarray], Any]:
    """The function of (lo, hi) that computes `op` on the group's sorted events."""
    if op == "count" or values is None:
        return partial(windows.window_count, included)
    if op == "sum_int":
        return partial(windows.window_sum_int, values, included)
    if op == "float_sum":
        # The exact sums of the values as doubles (int64 -> float64 rounds to nearest even) and
        # the counts, for sums and means (divided once the windows are split apart).
        addends = np.where(included, values.astype(np.float64, copy=False), 0.0)
        return lambda lo, hi: (exact_sums(addends, lo, hi), windows.window_count(included, lo, hi))
    if op.startswith("nth_last"):
        return partial(windows.window_nth_last, values, included, n=int(op.split()[1]))
    pick = {"min": windows.window_min, "max": windows.window_max, "first": windows.window_first}
    return partial(pick[op], values, included)


def _per_window(
    wanted: Sequence[Window], bounds: Bounds, kernel: Callable[[np.ndarray, np.ndarray], Any]
) -> dict[Window, Any]:
    """``kernel(lo, hi)`` for every window, calling it on the concatenated ranges of several
    windows at a time (at most RANGES_PER_CALL ranges, or one window) and splitting the result
    (an array, or a tuple of arrays) back per window."""
    results: dict[Window, Any] = {}
    rows = len(bounds[wanted[0]][0]) if wanted else 0
    per_call = max(1, RANGES_PER_CALL // max(rows, 1))
    for start in range(0, len(wanted), per_call):
        batch = wanted[start : start + per_call]
        lo = np.concatenate([bounds[window][0] for window in batch])
        hi = np.concatenate([bounds[window][1] for window in batch])
        out = kernel(lo, hi)
        for k, window in enumerate(batch):
            part = slice(k * rows, (k + 1) * rows)
            results[window] = tuple(x[part] for x in out) if isinstance(out, tuple) else out[part]
    return results


def _check_tables(
    label_keys: np.ndarray,
    label_times: np.ndarray,
    event_keys: np.ndarray,
    event_times: np.ndarray,
) -> int:
    """E, after checking the lengths and dtypes of the key and time arrays."""
    n_rows, n_events = len(label_keys), len(event_keys)
    for name, array, size in (
        ("label_times", label_times, n_rows),
        ("event_times", event_times, n_events),
    ):
        if array.ndim != 1 or array.size != size or array.dtype != np.int64:
            raise DataError(
                f"{name}: expected int64[{size}] microseconds, got {array.dtype}{list(array.shape)}"
            )
    kinds = {label_keys.dtype.kind, event_keys.dtype.kind}
    if not (kinds <= set("iu") or kinds <= set("OU")):
        raise DataError(
            f"entity keys: label keys are {label_keys.dtype} and event keys {event_keys.dtype}; "
            "both must be int64 or both str"
        )
    return n_events


def _check_request(request: WindowRequest, columns: Mapping[str, Column], n_events: int) -> None:
    """Raise DataError / ValueError when the request does not fit the event table."""
    where = f"window {request.kind}({request.column or 'events'}, {request.length} µs)"
    if request.included.dtype != np.bool_ or request.included.shape != (n_events,):
        raise DataError(f"{where}: included must be bool[{n_events}]")
    if request.kind not in ("count", "sum", "mean", "min", "max", "first", "last", "nth_last"):
        raise ValueError(f"{where}: unknown aggregate {request.kind!r}")
    if request.column is None:
        if request.kind != "count":
            raise ValueError(f"{where}: only count may omit the value column")
        return
    if request.column not in columns:
        raise DataError(f"{where}: no event column {request.column!r} (have {sorted(columns)})")
    values, nulls = columns[request.column]
    held = "str" if values.dtype.kind == "U" else values.dtype.name
    if request.dtype is None or held not in _NUMPY_DTYPES[request.dtype]:
        raise DataError(
            f"{where}: column {request.column!r} is declared {request.dtype} but holds "
            f"{values.dtype}"
        )
    if values.shape != (n_events,) or (
        nulls is not None and (nulls.dtype != np.bool_ or nulls.shape != (n_events,))
    ):
        raise DataError(
            f"{where}: column {request.column!r} and its null mask need {n_events} rows"
        )
    allowed = _KINDS_OF.get(request.kind)
    if allowed is not None and request.dtype not in allowed:
        raise ValueError(f"{where}: {request.kind} is not defined for {request.dtype} values")
    if request.kind == "nth_last" and request.n < 1:
        raise ValueError(f"{where}: nth_last needs n >= 1, not {request.n}")
