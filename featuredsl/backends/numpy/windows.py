"""Window aggregate kernels over time-sorted event segments (numpy only).

This file is standalone on purpose: the numpy code generator copies its text verbatim into
generated modules, and the training backfill imports it, so serving and training run the same
lines. It imports nothing but numpy.

Encoding (docs/windows.md has the user-facing semantics):

* ``times`` int64[E]: event times in microseconds since the epoch (UTC). Row ``i``'s candidate
  events are the segment ``[starts[i], ends[i])``, sorted by time (non-decreasing); ties keep
  their table or request order. Serving passes ``starts = offsets[:-1]``,
  ``ends = offsets[1:]``; the backfill passes each label row's entity block. Segments of
  different rows may overlap or repeat.
* ``row_times`` int64[N]: each row's prediction time ``T``.
* A window of length ``W`` with source lag ``L`` holds the events with
  ``T - L - W <= t < T - L`` (``T - L - W`` below the smallest int64 is minus infinity), as the
  index range ``[lo[i], hi[i])`` returned by :func:`window_bounds`.
* ``included`` bool[E]: the event counts (its ``where =`` filter is true and its value is not
  null). The kernels never look at excluded values.

Every kernel is vectorised: a fixed number of numpy passes over the N rows and the E events,
with no Python loop over rows or events. Float sums and means are not here: they need the
exact summation of ``exact_sum.py``.
"""

from __future__ import annotations

import numpy as np

_INT64_MIN = np.iinfo(np.int64).min
_INT64_MAX = np.iinfo(np.int64).max
_SPAN_LIMIT = 2**62


def window_bounds(
    times: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    row_times: np.ndarray,
    length: int,
    lag: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Index range ``[lo, hi)`` of each row's window inside its segment.

    ``times`` int64[E] (µs), sorted within each segment; ``starts``, ``ends``, ``row_times``
    int64[N]; ``length`` (W >= 1) and ``lag`` (L >= 0) are Python ints in µs with
    ``L + W < 2**62``. Returns two int64[N] arrays: ``lo[i]`` is the first index ``j`` of
    ``[starts[i], ends[i])`` with ``times[j] >= T - L - W`` and ``hi[i]`` the first with
    ``times[j] >= T - L`` (``ends[i]`` when there is none), so
    ``starts <= lo <= hi <= ends``.

    The bounds ``T - L`` and ``T - L - W`` saturate at the smallest int64 instead of wrapping:
    every event time is >= that value, so a bound below it selects from the segment start,
    which is what minus infinity selects.

    Algorithm: the lower-bound binary search (Knuth, TAOCP vol. 3, 6.2.1; C++
    ``std::lower_bound``), run for all rows at once: each pass halves every row's remaining
    range, so ``bit_length(max segment size)`` passes (at most 64) of O(N) numpy work find
    ``hi``; ``lo`` is then searched in ``[starts, hi)``.

    Raises ValueError when ``length < 1``, ``lag < 0`` or ``lag + length >= 2**62``.
    """
    if length < 1 or lag < 0 or lag + length >= _SPAN_LIMIT:
        raise ValueError(
            f"window length {length} µs and lag {lag} µs: need length >= 1, lag >= 0 and "
            "lag + length < 2**62"
        )
    hi = _lower_bound(times, starts, ends, _saturating_minus(row_times, lag))
    lo = _lower_bound(times, starts, hi, _saturating_minus(row_times, lag + length))
    return lo, hi


def _saturating_minus(row_times: np.ndarray, span: int) -> np.ndarray:
    """``row_times - span`` for ``0 <= span < 2**62``, clamped at the smallest int64."""
    return np.maximum(row_times, _INT64_MIN + span) - span


def _lower_bound(
    times: np.ndarray, starts: np.ndarray, ends: np.ndarray, targets: np.ndarray
) -> np.ndarray:
    """First index ``j`` in ``[starts[i], ends[i])`` with ``times[j] >= targets[i]``, per row."""
    base = np.array(starts, dtype=np.int64)
    size = np.asarray(ends, dtype=np.int64) - base
    if base.size == 0 or times.size == 0:
        return base
    last = times.size - 1
    for _ in range(int(size.max()).bit_length()):
        half = size >> 1
        mid = base + half
        # Rows whose range is already empty probe a valid index and ignore the answer.
        step = (times[np.minimum(mid, last)] < targets) & (size > 0)
        base = np.where(step, mid + 1, base)
        size = np.where(step, size - half - 1, half)
    return base


def window_count(included: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Number of included events in each window: int64[N], 0 for an empty window.

    ``included`` bool[E]; ``lo``, ``hi`` int64[N] from :func:`window_bounds`. One prefix count
    over the events, two gathers over the rows: O(E + N).
    """
    counts = _prefix_counts(included)
    return counts[hi] - counts[lo]


def _prefix_counts(included: np.ndarray) -> np.ndarray:
    """int64[E + 1]: ``out[j]`` is the number of included events before index ``j``."""
    out = np.zeros(included.size + 1, dtype=np.int64)
    np.cumsum(included, dtype=np.int64, out=out[1:])
    return out


def window_sum_int(
    values: np.ndarray, included: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """Sum of the included int64 values of each window, wrapping modulo 2**64: int64[N].

    ``values`` int64[E], ``included`` bool[E], ``lo``, ``hi`` int64[N]; 0 for an empty window.
    Difference of prefix sums: numpy's int64 addition and subtraction wrap, and arithmetic
    modulo 2**64 makes ``prefix[hi] - prefix[lo]`` the wrapped window sum whatever the
    intermediate overflows. O(E + N).
    """
    prefix = np.zeros(values.size + 1, dtype=np.int64)
    np.cumsum(np.where(included, values, 0), dtype=np.int64, out=prefix[1:])
    return prefix[hi] - prefix[lo]


def window_min(
    values: np.ndarray, included: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Smallest included value of each window: ``(values[N], missing bool[N])``.

    ``values`` int64[E] (ints, timestamps) or float64[E]; the result has the same dtype. -0.0 is
    below +0.0 whatever their order. An empty window is missing: NaN for floats, 0 for int64.
    See :func:`_window_extreme` for the algorithm. Raises TypeError for other dtypes.
    """
    return _window_extreme(values, included, lo, hi, np.minimum, _INT64_MAX)


def window_max(
    values: np.ndarray, included: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Largest included value of each window: ``(values[N], missing bool[N])``.

    Same contract as :func:`window_min`; +0.0 is above -0.0 whatever their order.
    """
    return _window_extreme(values, included, lo, hi, np.maximum, _INT64_MIN)


def _window_extreme(
    values: np.ndarray,
    included: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    pick: np.ufunc,
    neutral: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Min or max over each window, on int64 keys.

    Floats become int64 keys that order like the floats with -0.0 below +0.0 (the sign-magnitude
    to two's-complement flip of the IEEE-754 bits, the total order of IEEE 754-2008 5.10); the
    flip is its own inverse. Excluded events get the neutral key, which cannot win over an
    included value.

    Each window is cut at the boundaries of blocks of ``_BLOCK`` events: the whole blocks inside
    it are answered by a sparse table of block extremes (two overlapping power-of-two spans;
    Bender & Farach-Colton, "The LCA problem revisited", LATIN 2000), the partial blocks at
    its two ends by ``pick.reduceat`` (:func:`_reduce_ranges`). Min and max are idempotent, so
    the pieces may overlap. Cost: O(E + N * _BLOCK + N log N), whatever the window sizes;
    memory about 8 * E / _BLOCK * log2(E / _BLOCK) bytes for the table.
    """
    if values.dtype == np.float64:
        keys = _float_keys(values)
    elif values.dtype == np.int64:
        keys = values
    else:
        raise TypeError(f"window min/max takes int64 or float64 values, not {values.dtype}")
    missing = window_count(included, lo, hi) == 0
    padded = np.full(keys.size + 1, neutral, dtype=np.int64)
    np.copyto(padded[:-1], keys, where=included)
    first_block = -(-lo // _BLOCK)  # the first whole block starts at or after lo
    end_block = hi // _BLOCK  # the whole blocks end at or before hi
    ends = _reduce_ranges(
        padded,
        np.concatenate([lo, np.maximum(lo, end_block * _BLOCK)]),
        np.concatenate([np.minimum(hi, first_block * _BLOCK), hi]),
        pick,
    )
    picked = pick(ends[: lo.size], ends[lo.size :])
    inner = np.flatnonzero(first_block < end_block)
    if inner.size:
        table = _sparse_table(padded[: keys.size // _BLOCK * _BLOCK], pick)
        a, b = first_block[inner], end_block[inner]
        level = (np.frexp(b - a)[1] - 1).astype(np.int64)  # floor(log2(b - a)), exact
        width = table.shape[1]
        spans = pick(table.flat[level * width + a], table.flat[level * width + b - (1 << level)])
        picked[inner] = pick(picked[inner], spans)
    if values.dtype == np.float64:
        result = _float_keys(picked).view(np.float64)
        result[missing] = np.nan
    else:
        result = np.where(missing, 0, picked)
    return result, missing


_BLOCK = 128
"""Events per block of the min/max sparse table."""


def _reduce_ranges(
    padded: np.ndarray, starts: np.ndarray, ends: np.ndarray, pick: np.ufunc
) -> np.ndarray:
    """``pick`` over ``padded[starts[i]:ends[i]]`` per range; an empty range gives the neutral
    value ``padded[-1]``.

    ``pick.reduceat`` over the interleaved indices ``s0, e0, s1, e1, ...`` reduces each range at
    the even positions; at the odd positions it reduces the gap ``[e_i, s_next)`` (one element
    when the next range starts before ``e_i``). Taking the ranges in order of start keeps those
    gaps disjoint, so the cost is O(len(padded) + sum of range lengths) plus the sort.
    """
    empty = starts >= ends
    starts = np.where(empty, padded.size - 1, starts)
    ends = np.where(empty, padded.size - 1, ends)
    order = None if np.all(starts[1:] >= starts[:-1]) else np.argsort(starts, kind="stable")
    bounds = np.empty(2 * starts.size, dtype=np.intp)
    bounds[0::2] = starts if order is None else starts[order]
    bounds[1::2] = ends if order is None else ends[order]
    if not starts.size:
        return padded[:0].copy()
    picked = pick.reduceat(padded, bounds)[0::2]
    if order is None:
        return picked
    in_range_order = np.empty_like(picked)
    in_range_order[order] = picked
    return in_range_order


def _sparse_table(blocked: np.ndarray, pick: np.ufunc) -> np.ndarray:
    """Sparse table of block extremes, int64[levels, blocks]: row ``k``, column ``i`` holds
    ``pick`` over blocks ``i .. i + 2**k - 1`` (columns past the end of a row are unused)."""
    level0 = pick.reduceat(blocked, np.arange(0, blocked.size, _BLOCK))
    table = np.empty((max(1, int(level0.size).bit_length()), level0.size), dtype=np.int64)
    table[0] = level0
    for k in range(1, table.shape[0]):
        half = 1 << (k - 1)
        table[k, : level0.size - half] = pick(table[k - 1, :-half], table[k - 1, half:])
        table[k, level0.size - half :] = table[k - 1, level0.size - half :]
    return table


def _float_keys(x: np.ndarray) -> np.ndarray:
    """int64 keys ordered like the float64 values (and back again: the map is an involution)."""
    bits = x.view(np.int64)
    return bits ^ ((bits >> 63) & _INT64_MAX)


def window_first(
    values: np.ndarray, included: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Value of the earliest included event of each window: ``(values[N], missing bool[N])``.

    ``values`` of any dtype [E] (float64, int64, bool, object str); earliest means the lowest
    index, which is time order with ties in table or request order. A missing result holds NaN
    (float), 0 (int), False (bool) or "" (str) under a True mask.
    See :func:`window_nth_last` for the algorithm.
    """
    counts = _prefix_counts(included)
    rank = counts[lo]
    return _value_of_rank(values, included, rank, counts[hi] > rank)


def window_last(
    values: np.ndarray, included: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Value of the latest included event of each window: ``(values[N], missing bool[N])``.

    Same contract as :func:`window_first`; latest means the highest index.
    """
    return window_nth_last(values, included, lo, hi, 1)


def window_nth_last(
    values: np.ndarray, included: np.ndarray, lo: np.ndarray, hi: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Value of the n-th latest included event (n = 1 is the latest): ``(values[N], missing)``.

    Same contract as :func:`window_first`; missing when the window has fewer than ``n``
    included events. Algorithm: with ``counts[j]`` the number of included events before ``j``
    and ``positions`` the indices of the included events, the n-th latest event of ``[lo, hi)``
    is ``positions[counts[hi] - n]`` when ``counts[hi] - counts[lo] >= n``. O(E + N).

    Raises ValueError when ``n < 1``.
    """
    if n < 1:
        raise ValueError(f"window_nth_last needs n >= 1, not {n}")
    counts = _prefix_counts(included)
    rank = counts[hi] - n
    return _value_of_rank(values, included, rank, rank >= counts[lo])


def _value_of_rank(
    values: np.ndarray, included: np.ndarray, rank: np.ndarray, present: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``values`` of the ``rank[i]``-th included event where ``present``, the missing fill elsewhere."""
    positions = np.flatnonzero(included)
    result = np.full(rank.size, _missing_fill(values.dtype), dtype=values.dtype)
    result[present] = values[positions[rank[present]]]
    return result, ~present


def _missing_fill(dtype: np.dtype) -> object:
    """The value under a True missing mask: NaN, 0, False or ""."""
    if dtype.kind == "f":
        return np.nan
    if dtype.kind in "iu":
        return 0
    if dtype.kind == "b":
        return False
    if dtype.kind in "OU":
        return ""
    raise TypeError(f"window first/last takes float, int, bool or str values, not {dtype}")
