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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from featuredsl.backends.numpy import windows
from featuredsl.backends.numpy.exact_sum import exact_sums
from featuredsl.compiler.types import DType
from featuredsl.errors import DataError

__all__ = ["AggregateKind", "Column", "WindowRequest", "backfill", "entity_blocks"]

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
    n_rows, n_events = _check_tables(label_keys, label_times, event_keys, event_times)
    for request in requests:
        _check_request(request, columns, n_events)
    order, starts, ends = entity_blocks(label_keys, event_keys, event_times)
    times = event_times[order]
    bounds: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    results: list[tuple[np.ndarray, np.ndarray | None]] = [(np.empty(0), None)] * len(requests)
    # One sorted value column is alive at a time: requests are taken column by column.
    by_column = sorted(range(len(requests)), key=lambda i: requests[i].column or "")
    sorted_column: tuple[str | None, np.ndarray | None] = (None, None)
    for index in by_column:
        request = requests[index]
        window = (request.length, request.lag)
        if window not in bounds:
            bounds[window] = windows.window_bounds(
                times, starts, ends, label_times, request.length, request.lag
            )
        lo, hi = bounds[window]
        if request.column is not None and sorted_column[0] != request.column:
            sorted_column = (None, None)  # free the previous column before sorting the next
            sorted_column = (request.column, columns[request.column][0][order])
        values = sorted_column[1] if request.column is not None else None
        included = _included(request, columns, order)
        results[index] = _aggregate(request, values, included, lo, hi)
    assert all(len(values) == n_rows for values, _ in results)
    return results


def entity_blocks(
    label_keys: np.ndarray, event_keys: np.ndarray, event_times: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort the events by (entity, time) and find each label row's block of them.

    ``label_keys`` [N], ``event_keys`` [E] (int64, or str as object/unicode arrays),
    ``event_times`` int64[E] µs. Returns ``order`` int64[E], the stable sort permutation of the
    events by (key, time) (``np.lexsort``, which sorts stably key by key), and ``starts``,
    ``ends`` int64[N]: label row ``i``'s entity's events are ``order[starts[i]:ends[i]]``
    (``starts == ends == 0`` for an entity with no events).

    String keys are first replaced by their rank among the distinct event keys
    (``np.unique``), so the (entity, time) sort runs on integers.
    """
    if event_keys.size == 0:
        empty = np.zeros(len(label_keys), dtype=np.int64)
        return np.zeros(0, dtype=np.int64), empty, empty.copy()
    if event_keys.dtype.kind in "iu":
        sort_keys = event_keys
    else:
        sort_keys = np.unique(event_keys, return_inverse=True)[1]
    order = np.lexsort((event_times, sort_keys))
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


def _included(
    request: WindowRequest, columns: Mapping[str, Column], order: np.ndarray
) -> np.ndarray:
    """The request's included mask in sorted event order, null values removed."""
    included = request.included[order]
    if request.column is not None:
        values, nulls = columns[request.column]
        if nulls is not None:
            included &= ~nulls[order]
        if values.dtype.kind == "f":
            included &= ~np.isnan(values[order])
    return included


def _aggregate(
    request: WindowRequest,
    values: np.ndarray | None,
    included: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
) -> tuple[np.ndarray, np.ndarray | None]:
    """One request's kernel call on the sorted events (see :func:`backfill` for the results)."""
    kind = request.kind
    if kind == "count" or values is None:
        return windows.window_count(included, lo, hi), None
    if kind == "sum" and request.dtype == DType.INT:
        return windows.window_sum_int(values, included, lo, hi), None
    if kind == "sum":
        return exact_sums(np.where(included, values, 0.0), lo, hi), None
    if kind == "mean":
        as_float = values.astype(np.float64)  # int64 -> float64 rounds to nearest even
        sums = exact_sums(np.where(included, as_float, 0.0), lo, hi)
        counts = windows.window_count(included, lo, hi)
        missing = counts == 0
        means = np.divide(sums, counts, out=np.full(sums.size, np.nan), where=~missing)
        return means, missing
    if kind == "min":
        return windows.window_min(values, included, lo, hi)
    if kind == "max":
        return windows.window_max(values, included, lo, hi)
    if kind == "first":
        return windows.window_first(values, included, lo, hi)
    if kind == "last":
        return windows.window_last(values, included, lo, hi)
    return windows.window_nth_last(values, included, lo, hi, request.n)


def _check_tables(
    label_keys: np.ndarray,
    label_times: np.ndarray,
    event_keys: np.ndarray,
    event_times: np.ndarray,
) -> tuple[int, int]:
    """(N, E) after checking the lengths and dtypes of the key and time arrays."""
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
    return n_rows, n_events


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
