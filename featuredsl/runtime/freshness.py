"""Freshness budgets in the serving Session: refuse a stale value, refuse a value from the future.

A spec names each row's prediction time (`time event_ts`) and, per input, the column holding the
time its value was computed or loaded (`score: float? as_of score_ts max_age 6h else refuse`).
The age of a value is prediction time - as-of time, int64 microseconds. The Session applies,
before onnxruntime sees a request (only to rows where the value is not null: a null has no age):

- a value from the future (as-of time after the prediction time) is refused whatever the policy;
- `else refuse`: a value older than `max_age` is refused, naming the column, the row and its age;
- `else null`: nothing to do here; the graph itself (and the numpy module) treat a value older
  than `max_age`, or from the future, as null, so callers in any language get the same values.

An age exactly equal to `max_age` is within budget (served).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from featuredsl.artifact.contract import mask_name
from featuredsl.compiler.ir import AsOf, Freshness
from featuredsl.errors import DataError
from featuredsl.language.durations import human_duration

INT64_MIN = np.iinfo(np.int64).min


def iso_time(micros: int) -> str:
    """An int64 microsecond UTC timestamp as ISO 8601 (`2026-11-30T09:00:00Z`), for messages."""
    seconds, rest = divmod(int(micros), 1_000_000)
    try:
        text = np.datetime64(seconds, "s").astype(str)
    except (OverflowError, ValueError):
        return f"{micros} µs"
    return f"{text}{f'.{rest:06d}' if rest else ''}Z"


def over_budget(now: np.ndarray, as_of: np.ndarray, max_age: int) -> np.ndarray:
    """now - as_of > max_age, elementwise on int64 microseconds, without overflow for any pair:
    (now >= INT64_MIN + max_age) and (as_of < now - max_age), the formula the IR uses (numpy
    array subtraction wraps silently; the first condition masks the wrapped rows)."""
    result: np.ndarray = (now >= INT64_MIN + max_age) & (as_of < now - np.int64(max_age))
    return result


def _present(feed: Mapping[str, np.ndarray], column: str) -> np.ndarray:
    values = feed[column]
    mask = feed.get(mask_name(column))
    if mask is not None:
        result: np.ndarray = ~mask
        return result
    if values.dtype.kind == "f":
        return ~np.isnan(values)
    return np.ones(len(values), dtype=bool)


def check_freshness(feed: Mapping[str, np.ndarray], freshness: Freshness, source: str) -> None:
    """Refuse future values and, for `else refuse` inputs, values over their `max_age`.

    Args:
        feed: the validated feed (timestamps as int64 microseconds UTC, masks as bool).
        freshness: the spec's time declarations.
        source: the word messages start with ("request").

    Raises:
        DataError: naming the row, the column, its age in human units and the fix.
    """
    now = feed[freshness.time]
    for rule in freshness.inputs:
        as_of = feed[rule.as_of]
        # Cheap tests first (a request rarely fails them); presence only when one does.
        future = as_of > now
        if future.any():
            future &= _present(feed, rule.column)
            if future.any():
                _refuse_future(rule, freshness.time, int(np.argmax(future)), now, as_of, source)
        if rule.stale == "refuse" and rule.max_age is not None:
            stale = as_of < now - np.int64(rule.max_age)  # may wrap near INT64_MIN: see below
            if stale.any():
                stale = over_budget(now, as_of, rule.max_age) & _present(feed, rule.column)
                if stale.any():
                    _refuse_stale(rule, freshness.time, int(np.argmax(stale)), now, as_of, source)


def _refuse_future(
    rule: AsOf, time: str, row: int, now: np.ndarray, as_of: np.ndarray, source: str
) -> None:
    ahead = int(as_of[row]) - int(now[row])
    raise DataError(
        f"{source}: row {row}: column {rule.column!r} is from the future: its as-of time "
        f"{rule.as_of}={iso_time(int(as_of[row]))} is {human_duration(ahead)} after the "
        f"prediction time {time}={iso_time(int(now[row]))}; a value cannot be known before it "
        f"was computed: check {rule.as_of!r} and the clocks that fill it"
    )


def _refuse_stale(
    rule: AsOf, time: str, row: int, now: np.ndarray, as_of: np.ndarray, source: str
) -> None:
    assert rule.max_age is not None
    age = int(now[row]) - int(as_of[row])
    raise DataError(
        f"{source}: row {row}: column {rule.column!r} is {human_duration(age)} old "
        f"({rule.as_of}={iso_time(int(as_of[row]))}, {time}={iso_time(int(now[row]))}), "
        f"{human_duration(age - rule.max_age)} over its max_age {human_duration(rule.max_age)}; "
        "refresh the value, or declare "
        f"`else null` to serve a stale value as null"
    )
