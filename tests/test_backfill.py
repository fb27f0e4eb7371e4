"""The training backfill and the window kernels against a brute-force reference of the contract.

The reference (`reference`) is written straight from docs/windows.md, one label row at a time:
the entity's events with T - L - W <= t < T - L that are included and not null, in (time, table
position) order, aggregated in plain Python (math.fsum for float sums, with the +0.0, infinity
and overflow rules). Hypothesis draws event streams that hit the corners: ties at both window
edges, equal event times with different values, empty windows, entities without events, lags,
int64 extremes, times centuries apart, -0.0/+0.0 mixes, "" and non-ASCII strings. The same rows
are then encoded the serving way (each row carries its own events, `offsets`) and the kernels
must give what the backfill gives.
"""

from __future__ import annotations

import ast
import math
import tracemalloc
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featuredsl.artifact.backfill import WindowRequest, backfill, entity_blocks, entity_time_order
from featuredsl.backends.numpy import windows
from featuredsl.backends.numpy.exact_sum import exact_sums
from featuredsl.compiler.types import DType
from featuredsl.errors import DataError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
DBL_MAX = float(np.finfo(np.float64).max)
CENTURY = 100 * 365 * 86_400 * 1_000_000
INF = math.inf

# Column name -> declared type; floats use NaN as null, the others a mask.
COLUMNS = {
    "f": DType.FLOAT,
    "i": DType.INT,
    "ts": DType.TIMESTAMP,
    "s": DType.STRING,
    "b": DType.BOOL,
}
KINDS_OF = {
    DType.FLOAT: ("count", "sum", "mean", "min", "max", "first", "last", "nth_last"),
    DType.INT: ("count", "sum", "mean", "min", "max", "first", "last", "nth_last"),
    DType.TIMESTAMP: ("count", "min", "max", "first", "last", "nth_last"),
    DType.STRING: ("count", "first", "last", "nth_last"),
    DType.BOOL: ("count", "first", "last", "nth_last"),
}
FILL = {
    DType.FLOAT: math.nan,
    DType.INT: 0,
    DType.TIMESTAMP: 0,
    DType.STRING: "",
    DType.BOOL: False,
}


# ---------------------------------------------------------------------------------------------
# The reference, from the contract
# ---------------------------------------------------------------------------------------------


def reference_fsum(xs: list[float]) -> float:
    """The contract's float sum: math.fsum, +0.0 for zero, inf rules, overflow to +-inf."""
    if INF in xs and -INF in xs:
        return math.nan
    if INF in xs or -INF in xs:
        return INF if INF in xs else -INF
    try:
        total = math.fsum(xs)
    except OverflowError:  # fsum refuses intermediate overflow; the exact sum decides
        exact = sum(map(Fraction, xs), Fraction(0))
        try:
            total = float(exact)  # int / int true division: correctly rounded
        except OverflowError:
            total = INF if exact > 0 else -INF
    return total + 0.0  # -0.0 + 0.0 == +0.0


def wrap64(x: int) -> int:
    return (x + 2**63) % 2**64 - 2**63


def zero_order(x: float) -> tuple[float, float]:
    """Sort key with -0.0 below +0.0."""
    return (x, math.copysign(1.0, x))


@dataclass
class Scenario:
    label_keys: np.ndarray
    label_times: np.ndarray
    event_keys: np.ndarray
    event_times: np.ndarray
    columns: dict[str, tuple[np.ndarray, np.ndarray | None]]
    requests: list[WindowRequest]


def is_null(scenario: Scenario, column: str, j: int) -> bool:
    values, nulls = scenario.columns[column]
    if nulls is not None and nulls[j]:
        return True
    return values.dtype.kind == "f" and math.isnan(values[j])


def reference(scenario: Scenario, request: WindowRequest) -> tuple[list[Any], list[bool]]:
    """(values, missing) per label row, computed one row at a time from the contract."""
    out: list[Any] = []
    missing: list[bool] = []
    keys = scenario.event_keys.tolist()
    times = scenario.event_times.tolist()
    for key, now in zip(scenario.label_keys.tolist(), scenario.label_times.tolist(), strict=True):
        start, end = now - request.lag - request.length, now - request.lag  # exact Python ints
        chosen = [
            j
            for j in range(len(keys))
            if keys[j] == key
            and start <= times[j] < end
            and request.included[j]
            and (request.column is None or not is_null(scenario, request.column, j))
        ]
        chosen.sort(key=lambda j: (times[j], j))  # time order, ties in table order
        if request.column is None:
            out.append(len(chosen))
            missing.append(False)
            continue
        column = scenario.columns[request.column][0].tolist()
        value, empty = aggregate(request, [column[j] for j in chosen])
        fill = math.nan if request.kind == "mean" else FILL[request.dtype]  # type: ignore[index]
        out.append(fill if empty else value)
        missing.append(empty)
    return out, missing


def aggregate(request: WindowRequest, vals: list[Any]) -> tuple[Any, bool]:
    kind, dtype = request.kind, request.dtype
    if kind == "count":
        return len(vals), False
    if kind == "sum":
        return (wrap64(sum(vals)) if dtype == DType.INT else reference_fsum(vals)), False
    if kind == "mean":
        if not vals:
            return math.nan, True
        return reference_fsum([float(v) for v in vals]) / len(vals), False
    if not vals:
        return None, True
    if kind in ("min", "max"):
        pick = min if kind == "min" else max
        return (pick(vals, key=zero_order) if dtype == DType.FLOAT else pick(vals)), False
    if kind == "first":
        return vals[0], False
    n = 1 if kind == "last" else request.n
    return (vals[-n], False) if len(vals) >= n else (None, True)


def same(got: np.ndarray, expected: list[Any]) -> bool:
    """Equal values; floats bit for bit (the sign of zero counts, NaN equals NaN)."""
    if got.dtype.kind == "f":
        want = np.array(expected, dtype=np.float64)
        return got.tobytes() == want.tobytes() or bool(
            np.array_equal(got, want, equal_nan=True)
            and np.array_equal(np.signbit(got), np.signbit(want))
        )
    return got.tolist() == expected


# ---------------------------------------------------------------------------------------------
# Event streams that hit the corners
# ---------------------------------------------------------------------------------------------

FLOATS = st.one_of(
    st.sampled_from(
        [0.0, -0.0, 1.0, -1.0, 0.5, 3.0, INF, -INF, math.nan, DBL_MAX, -DBL_MAX, 5e-324, 1e16]
    ),
    st.floats(allow_nan=False),
)
INTS = st.one_of(
    st.sampled_from([INT64_MIN, INT64_MAX, INT64_MIN + 1, INT64_MAX - 1, 0, -1, 1, 2**53 + 1]),
    st.integers(INT64_MIN, INT64_MAX),
)
STRINGS = st.one_of(
    st.sampled_from(["", "a", "A", "é", "e\u0301", "日本", "\U0001f600", " "]),
    st.text(st.characters(exclude_characters="\x00"), max_size=3),
)
TIMES = st.one_of(
    st.integers(0, 12),
    st.sampled_from(
        [INT64_MIN, INT64_MIN + 1, INT64_MAX, INT64_MAX - 1, -5 * CENTURY, 3 * CENTURY, 0]
    ),
    st.integers(INT64_MIN, INT64_MAX),
)
LAGS = st.sampled_from([0, 0, 1, 2, 5, 3_600_000_000, CENTURY])
LENGTHS = st.one_of(
    st.sampled_from([1, 2, 3, 5, 86_400_000_000, 4 * CENTURY, 2**62]), st.integers(1, 10)
)


def in_int64(x: int) -> bool:
    return INT64_MIN <= x <= INT64_MAX


@st.composite
def scenarios(draw: st.DrawFn, string_keys: bool | None = None) -> Scenario:
    if string_keys is None:
        string_keys = draw(st.booleans())
    pool = (
        draw(st.lists(STRINGS, min_size=1, max_size=4, unique=True))
        if string_keys
        else draw(st.lists(INTS, min_size=1, max_size=4, unique=True))
    )
    n_events = draw(st.integers(0, 24))
    event_keys = [draw(st.sampled_from(pool)) for _ in range(n_events)]
    event_times = [draw(TIMES) for _ in range(n_events)]
    lag = draw(LAGS)
    length = min(draw(LENGTHS), 2**62 - 1 - lag)
    # Label times: arbitrary, or an event time placed exactly on a window edge (or one µs off).
    candidates: list[int] = []
    for t in event_times:
        for offset in (lag, lag + length, lag + length + 1, lag - 1 if lag else lag + 1):
            if in_int64(t + offset):
                candidates.append(t + offset)
    n_labels = draw(st.integers(0, 12))
    label_times = [
        draw(st.sampled_from(candidates) if candidates and draw(st.booleans()) else TIMES)
        for _ in range(n_labels)
    ]
    unknown = "never seen" if string_keys else 987_654_321
    label_keys = [draw(st.sampled_from([*pool, unknown])) for _ in range(n_labels)]
    columns: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for name, dtype in COLUMNS.items():
        strategy = {
            DType.FLOAT: FLOATS,
            DType.INT: INTS,
            DType.TIMESTAMP: TIMES,
            DType.STRING: STRINGS,
            DType.BOOL: st.booleans(),
        }[dtype]
        values = [draw(strategy) for _ in range(n_events)]
        array = np.array(values, dtype=object if dtype == DType.STRING else None)
        if dtype != DType.STRING:
            array = array.astype(
                {DType.FLOAT: np.float64, DType.BOOL: np.bool_}.get(dtype, np.int64)
            )
        nulls = None
        if dtype != DType.FLOAT and draw(st.booleans()):
            nulls = np.array([draw(st.booleans()) for _ in range(n_events)], dtype=bool)
        columns[name] = (array, nulls)
    included = np.array([draw(st.booleans()) for _ in range(n_events)], dtype=bool)
    if draw(st.booleans()):
        included[:] = True
    requests = [WindowRequest("count", None, None, included, length, lag)]
    for name, dtype in COLUMNS.items():
        for kind in KINDS_OF[dtype]:
            n = draw(st.integers(1, 3)) if kind == "nth_last" else 1
            requests.append(WindowRequest(kind, name, dtype, included, length, lag, n))  # type: ignore[arg-type]
    # A second window in the same call (its bounds are computed separately).
    other_lag, other_length = draw(LAGS), draw(st.integers(1, 6))
    # A second window and a second filter in the same call: other bounds, other groups, and
    # kernels shared by requests of several windows.
    other = np.array([draw(st.booleans()) for _ in range(n_events)], dtype=bool)
    for kind, name, dtype, mask in [
        ("count", None, None, other),
        ("last", "s", DType.STRING, other),
        ("mean", "f", DType.FLOAT, included),
        ("sum", "f", DType.FLOAT, other),
        ("sum", "i", DType.INT, other),
        ("max", "f", DType.FLOAT, other),
        ("nth_last", "i", DType.INT, included),
    ]:
        requests.append(WindowRequest(kind, name, dtype, mask, other_length, other_lag, 2))  # type: ignore[arg-type]
    key_dtype = object if string_keys else np.int64
    return Scenario(
        label_keys=np.array(label_keys, dtype=key_dtype),
        label_times=np.array(label_times, dtype=np.int64),
        event_keys=np.array(event_keys, dtype=key_dtype),
        event_times=np.array(event_times, dtype=np.int64),
        columns=columns,
        requests=requests,
    )


def run_backfill(scenario: Scenario) -> list[tuple[np.ndarray, np.ndarray | None]]:
    return backfill(
        scenario.label_keys,
        scenario.label_times,
        scenario.event_keys,
        scenario.event_times,
        scenario.columns,
        scenario.requests,
    )


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(scenarios())
def test_backfill_equals_the_brute_force_reference(scenario: Scenario) -> None:
    results = run_backfill(scenario)
    assert len(results) == len(scenario.requests)
    for request, (values, missing) in zip(scenario.requests, results, strict=True):
        expected, expected_missing = reference(scenario, request)
        where = f"{request.kind}({request.column}, W={request.length}, L={request.lag})"
        assert len(values) == len(scenario.label_keys), where
        assert same(values, expected), (where, values, expected)
        if missing is None:
            assert not any(expected_missing), where
        else:
            assert missing.dtype == np.bool_ and missing.tolist() == expected_missing, where


# ---------------------------------------------------------------------------------------------
# Serving encoding: each row carries its own events
# ---------------------------------------------------------------------------------------------


def serving_rows(scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
    """Event indices of each label row's request segment (its entity's events in time order,
    ties in table order) and the offsets."""
    times = scenario.event_times.tolist()
    keys = scenario.event_keys.tolist()
    segments = []
    for key in scenario.label_keys.tolist():
        rows = [j for j in range(len(keys)) if keys[j] == key]
        segments.append(sorted(rows, key=lambda j: (times[j], j)))
    offsets = np.zeros(len(segments) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(s) for s in segments], dtype=np.int64)
    flat = np.array([j for s in segments for j in s], dtype=np.int64)
    return flat, offsets


def serving_kernel(
    request: WindowRequest, scenario: Scenario, flat: np.ndarray, offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    times = scenario.event_times[flat]
    lo, hi = windows.window_bounds(
        times, offsets[:-1], offsets[1:], scenario.label_times, request.length, request.lag
    )
    included = request.included[flat]
    if request.column is None:
        return windows.window_count(included, lo, hi), None
    values, nulls = scenario.columns[request.column]
    values = values[flat]
    if nulls is not None:
        included = included & ~nulls[flat]
    if values.dtype.kind == "f":
        included = included & ~np.isnan(values)
    kind = request.kind
    if kind == "count":
        return windows.window_count(included, lo, hi), None
    if kind == "sum" and request.dtype == DType.INT:
        return windows.window_sum_int(values, included, lo, hi), None
    if kind in ("sum", "mean"):
        sums = exact_sums(np.where(included, values.astype(np.float64), 0.0), lo, hi)
        if kind == "sum":
            return sums, None
        counts = windows.window_count(included, lo, hi)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, sums / counts, np.nan), counts == 0
    if kind == "nth_last":
        return windows.window_nth_last(values, included, lo, hi, request.n)
    kernel = {
        "min": windows.window_min,
        "max": windows.window_max,
        "first": windows.window_first,
        "last": windows.window_last,
    }[kind]
    return kernel(values, included, lo, hi)


@PROPERTY
@given(scenarios())
def test_kernels_on_the_serving_encoding_equal_the_backfill(scenario: Scenario) -> None:
    flat, offsets = serving_rows(scenario)
    for request, (values, missing) in zip(scenario.requests, run_backfill(scenario), strict=True):
        served, served_missing = serving_kernel(request, scenario, flat, offsets)
        assert same(served, values.tolist()), (request.kind, request.column, served, values)
        if missing is None:
            assert served_missing is None
        else:
            assert served_missing is not None and served_missing.tolist() == missing.tolist()


# ---------------------------------------------------------------------------------------------
# Named corners
# ---------------------------------------------------------------------------------------------


def one_entity(times: list[int], values: list[Any]) -> dict[str, np.ndarray]:
    return {
        "times": np.array(times, dtype=np.int64),
        "values": np.array(values),
        "starts": np.zeros(1, dtype=np.int64),
        "ends": np.array([len(times)], dtype=np.int64),
    }


def test_window_edges_start_in_end_out() -> None:
    events = one_entity([10, 20, 20, 30], [1, 2, 3, 4])
    # T=35, L=5, W=10: window [20, 30): both events at 20 in, the event at 30 out.
    lo, hi = windows.window_bounds(
        events["times"], events["starts"], events["ends"], np.array([35]), 10, 5
    )
    assert (lo.tolist(), hi.tolist()) == ([1], [3])


def test_bounds_saturate_below_int64_min() -> None:
    times = np.array([INT64_MIN, INT64_MIN + 1, 0, INT64_MAX], dtype=np.int64)
    starts, ends = np.array([0, 0, 0]), np.array([4, 4, 4])
    now = np.array([INT64_MIN, INT64_MIN + 1, INT64_MAX], dtype=np.int64)
    lo, hi = windows.window_bounds(times, starts, ends, now, 2**62 - 1, 0)
    # T - W is below INT64_MIN for the first two rows: the window starts at the segment start.
    assert lo.tolist() == [0, 0, 3] and hi.tolist() == [0, 1, 3]
    lo, hi = windows.window_bounds(times, starts, ends, now, 1, 2**62 - 2)
    assert lo.tolist() == [0, 0, 3] and hi.tolist() == [0, 0, 3]


@pytest.mark.parametrize("length, lag", [(0, 0), (1, -1), (2**62 - 5, 5), (-3, 0)])
def test_bounds_refuse_bad_windows(length: int, lag: int) -> None:
    with pytest.raises(ValueError, match="lag"):
        windows.window_bounds(
            np.zeros(0, np.int64), np.zeros(1), np.zeros(1), np.zeros(1), length, lag
        )


@pytest.mark.parametrize("values", [[0.0, -0.0], [-0.0, 0.0], [-0.0, -0.0, 0.0, -0.0]])
def test_signed_zeros_order_whatever_the_order(values: list[float]) -> None:
    x = np.array(values)
    included = np.ones(x.size, dtype=bool)
    lo, hi = np.array([0]), np.array([x.size])
    low, _ = windows.window_min(x, included, lo, hi)
    high, _ = windows.window_max(x, included, lo, hi)
    assert np.signbit(low[0]) and not np.signbit(high[0]) and low[0] == high[0] == 0.0


def test_min_max_of_unsorted_overlapping_windows() -> None:
    # Rows in an order where the windows go back and forth and overlap (the backfill's case).
    x = np.array([5, -3, 8, 1, INT64_MAX, INT64_MIN, 7], dtype=np.int64)
    included = np.array([True, True, True, False, True, True, True])
    lo = np.array([4, 0, 2, 1, 3, 6, 0])
    hi = np.array([7, 3, 4, 7, 3, 7, 7])
    low, low_missing = windows.window_min(x, included, lo, hi)
    high, _ = windows.window_max(x, included, lo, hi)
    for i in range(lo.size):
        window = [int(x[j]) for j in range(lo[i], hi[i]) if included[j]]
        assert low_missing[i] == (not window)
        if window:
            assert (low[i], high[i]) == (min(window), max(window))
        else:
            assert low[i] == 0


@pytest.mark.parametrize("dtype", [np.float64, np.int64])
def test_min_max_of_long_and_short_windows_across_blocks(dtype: type) -> None:
    # Thousands of events, so that windows span many of the kernel's blocks (whole blocks come
    # from its sparse table, the partial ones at both ends from reduceat), in random order.
    rng = np.random.default_rng(11)
    size = 5_000
    if dtype is np.float64:
        x = rng.normal(0.0, 1e6, size)
        special = rng.random(size) < 0.02
        x[special] = rng.choice([0.0, -0.0, 1.5, -2.0, INF, -INF, DBL_MAX, 5e-324], special.sum())
    else:
        x = rng.integers(INT64_MIN, INT64_MAX, size, endpoint=True)
        x[rng.random(size) < 0.01] = INT64_MAX
    included = rng.random(size) < 0.9
    lo = rng.integers(0, size + 1, 3_000)
    hi = np.minimum(size, lo + rng.choice([0, 1, 5, 127, 128, 129, 300, 2_000, size], lo.size))
    low, low_missing = windows.window_min(x, included, lo, hi)
    high, high_missing = windows.window_max(x, included, lo, hi)
    fill = math.nan if dtype is np.float64 else 0
    want_low, want_high = [], []
    for i in range(lo.size):
        window = [x[j].item() for j in range(lo[i], hi[i]) if included[j]]
        key = zero_order if dtype is np.float64 else None
        want_low.append(min(window, key=key) if window else fill)
        want_high.append(max(window, key=key) if window else fill)
    assert same(low, want_low) and same(high, want_high)
    assert (
        low_missing.tolist()
        == high_missing.tolist()
        == [not included[a:b].any() for a, b in zip(lo, hi, strict=True)]
    )


def test_first_last_keep_table_order_for_equal_times() -> None:
    keys = np.array([7, 7, 7, 7], dtype=np.int64)
    times = np.array([5, 5, 5, 1], dtype=np.int64)
    names = np.array(["b", "", "ü", "z"], dtype=object)
    ones = np.ones(4, dtype=bool)
    requests = [
        WindowRequest(kind, "name", DType.STRING, ones, 100)
        for kind in ("first", "last", "nth_last")
    ]
    requests[2] = WindowRequest("nth_last", "name", DType.STRING, ones, 100, n=2)
    got = backfill(
        np.array([7, 8]), np.array([6, 6]), keys, times, {"name": (names, None)}, requests
    )
    assert [values.tolist() for values, _ in got] == [["z", ""], ["ü", ""], ["", ""]]
    assert [mask.tolist() for _, mask in got if mask is not None] == [[False, True]] * 3


def test_int_sum_wraps_and_mean_rounds_ints_first() -> None:
    keys = np.zeros(3, dtype=np.int64)
    values = np.array([INT64_MAX, 1, 2**53 + 1], dtype=np.int64)
    ones = np.ones(3, dtype=bool)
    requests = [
        WindowRequest("sum", "v", DType.INT, ones, 10),
        WindowRequest("mean", "v", DType.INT, ones, 10),
    ]
    (total, _), (mean, missing) = backfill(
        np.zeros(1, np.int64),
        np.array([5]),
        keys,
        np.array([1, 2, 3]),
        {"v": (values, None)},
        requests,
    )
    assert total.tolist() == [wrap64(INT64_MAX + 1 + 2**53 + 1)]
    expected = math.fsum([float(INT64_MAX), 1.0, float(2**53 + 1)]) / 3
    assert mean.tolist() == [expected] and missing is not None and not missing[0]


def test_entity_blocks_for_unknown_and_string_keys() -> None:
    events = np.array(["b", "a", "é", "a", ""], dtype=object)
    times = np.array([3, 2, 1, 1, 9], dtype=np.int64)
    order, starts, ends = entity_blocks(np.array(["a", "zz", "", "é"], dtype=object), events, times)
    assert order.tolist() == [4, 3, 1, 0, 2]  # "" < "a" < "b" < "é"; by time within a key
    assert [order[s:e].tolist() for s, e in zip(starts, ends, strict=True)] == [
        [3, 1],
        [],
        [4],
        [2],
    ]
    order, starts, ends = entity_blocks(np.array(["a"]), events[:0], times[:0])
    assert order.size == 0 and starts.tolist() == ends.tolist() == [0]


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.lists(st.sampled_from([INT64_MIN, -1, 0, 5, INT64_MAX]), max_size=40),
        st.lists(st.integers(-3, 3), max_size=40),
        st.lists(STRINGS, max_size=40),
    ),
    st.data(),
)
def test_entity_time_order_is_the_stable_key_time_sort(
    keys: list[Any], data: st.DataObject
) -> None:
    times = data.draw(
        st.lists(st.one_of(st.integers(0, 3), TIMES), min_size=len(keys), max_size=len(keys))
    )
    if data.draw(st.booleans()):
        times.sort()  # the already-in-time-order path
    string = bool(keys) and isinstance(keys[0], str)
    key_array = np.array(keys, dtype=object if string else np.int64)
    got = entity_time_order(key_array, np.array(times, dtype=np.int64))
    expected = sorted(range(len(keys)), key=lambda j: (keys[j], times[j], j))
    assert got.dtype == np.int64 and got.tolist() == expected


def test_backfill_refuses_bad_inputs() -> None:
    keys, times = np.zeros(2, dtype=np.int64), np.array([1, 2], dtype=np.int64)
    ones = np.ones(2, dtype=bool)
    floats = {"v": (np.array([1.0, 2.0]), None)}
    label = (np.zeros(1, dtype=np.int64), np.array([3], dtype=np.int64))
    with pytest.raises(DataError, match="no event column 'w'"):
        backfill(*label, keys, times, floats, [WindowRequest("sum", "w", DType.FLOAT, ones, 5)])
    with pytest.raises(DataError, match="declared int but holds float64"):
        backfill(*label, keys, times, floats, [WindowRequest("sum", "v", DType.INT, ones, 5)])
    with pytest.raises(DataError, match="both must be int64 or both str"):
        backfill(np.array(["x"], dtype=object), label[1], keys, times, floats, [])
    with pytest.raises(DataError, match="event_times"):
        backfill(*label, keys, times.astype(np.float64), floats, [])
    with pytest.raises(DataError, match="included must be bool"):
        backfill(*label, keys, times, floats, [WindowRequest("count", None, None, ones[:1], 5)])
    strings = {"s": (np.array(["a", "b"], dtype=object), None)}
    with pytest.raises(ValueError, match="sum is not defined for string"):
        backfill(*label, keys, times, strings, [WindowRequest("sum", "s", DType.STRING, ones, 5)])
    with pytest.raises(ValueError, match="n >= 1"):
        backfill(
            *label,
            keys,
            times,
            strings,
            [WindowRequest("nth_last", "s", DType.STRING, ones, 5, n=0)],
        )
    with pytest.raises(TypeError, match="int64 or float64"):
        windows.window_min(np.array([True]), np.array([True]), np.array([0]), np.array([1]))


def test_memory_stays_a_multiple_of_the_event_table() -> None:
    # 2,000 label rows whose windows each cover all 20,000 events of one entity: a
    # (row x event) expansion would need 40M cells; the backfill's peak must stay near E.
    rng = np.random.default_rng(7)
    n_events, n_labels = 20_000, 2_000
    keys = np.zeros(n_events, dtype=np.int64)
    times = np.sort(rng.integers(0, 1_000_000, n_events))
    values = rng.integers(-100, 100, n_events)
    ones = np.ones(n_events, dtype=bool)
    requests = [
        WindowRequest(kind, "v", DType.INT, ones, 10**9)
        for kind in ("count", "sum", "min", "max", "first", "last")
    ]
    label_keys = np.zeros(n_labels, dtype=np.int64)
    label_times = np.full(n_labels, 2_000_000, dtype=np.int64)
    table_bytes = keys.nbytes + times.nbytes + values.nbytes + ones.nbytes
    tracemalloc.start()
    try:
        results = backfill(label_keys, label_times, keys, times, {"v": (values, None)}, requests)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert results[0][0].tolist() == [n_events] * n_labels
    assert results[2][0].tolist() == [int(values.min())] * n_labels
    assert peak < 8 * table_bytes + 64 * n_labels * len(requests)


def test_kernels_file_is_standalone() -> None:
    # The code generator embeds windows.py verbatim: it may import nothing but numpy.
    tree = ast.parse(Path(windows.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert imported == {"__future__", "numpy"}
