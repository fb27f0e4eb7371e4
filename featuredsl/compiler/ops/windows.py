"""Window aggregates: count, sum, mean, min, max, first and last of an entity's events over a
window that ends at the row's prediction time (docs/windows.md has the one written semantics).

They are not row ops: the checker turns each call into a `Window` (featuredsl.compiler.ir)
and the row IR reads its result as a derived input column, which the training backfill
(featuredsl.artifact.backfill) or the serving artifacts (from the request's events) provide.
Each aggregate is declared here once; the checker, the backends and the language reference
read these declarations.
"""

from __future__ import annotations

from dataclasses import dataclass

from featuredsl.compiler.op import ANY, NUM, ORDERED
from featuredsl.compiler.types import DType


@dataclass(frozen=True)
class WindowAggregate:
    """One window aggregate: what it accepts, what it returns, and its empty-window value.

    `counts_events`: the first argument may be the source itself (`window_count(purchases, 7d)`).
    `result`: None = the value column's dtype, else that dtype. `nullable`: an empty window
    gives null (else `empty`, a fixed value)."""

    name: str
    kind: str  # the kernel: count, sum, mean, min, max, first, last
    accepts: frozenset[DType]
    result: DType | None
    nullable: bool
    empty: str
    doc: str
    example: str
    counts_events: bool = False
    ranked: bool = False  # takes a rank n >= 1 before the length (window_nth_last)

    def result_dtype(self, value: DType | None) -> DType:
        """The result dtype for a value column of dtype `value` (None: counting events)."""
        if self.result is not None:
            return self.result
        assert value is not None
        return value


AGGREGATES: tuple[WindowAggregate, ...] = (
    WindowAggregate(
        "window_count",
        "count",
        ANY,
        DType.INT,
        False,
        "0",
        "The number of events in the window (given the source), or of non-null values (given "
        "a column).",
        "window_count(purchases, 7d)",
        counts_events=True,
    ),
    WindowAggregate(
        "window_sum",
        "sum",
        NUM,
        None,
        False,
        "0",
        "The sum of the non-null values. int: int64, wrapping modulo 2^64. float: the exact "
        "sum rounded once to the nearest double (math.fsum's value; order-free); a zero sum is "
        "+0.0, +inf with -inf is NaN, an exact sum beyond the double range is +-inf.",
        "window_sum(purchases.amount, 30d)",
    ),
    WindowAggregate(
        "window_mean",
        "mean",
        NUM,
        DType.FLOAT,
        True,
        "null",
        "The exact sum of the non-null values as doubles (ints rounded to the nearest double "
        "first), rounded once, divided by their count.",
        "window_mean(purchases.amount, 30d)",
    ),
    WindowAggregate(
        "window_min",
        "min",
        ORDERED,
        None,
        True,
        "null",
        "The smallest non-null value; -0.0 is below 0.0.",
        "window_min(purchases.amount, 30d)",
    ),
    WindowAggregate(
        "window_max",
        "max",
        ORDERED,
        None,
        True,
        "null",
        "The largest non-null value; 0.0 is above -0.0.",
        "window_max(purchases.amount, 30d)",
    ),
    WindowAggregate(
        "window_first",
        "first",
        ANY,
        None,
        True,
        "null",
        "The non-null value of the window's earliest event (equal event times: the first "
        "in the event table or in the request).",
        "window_first(purchases.merchant, 30d)",
    ),
    WindowAggregate(
        "window_last",
        "last",
        ANY,
        None,
        True,
        "null",
        "The non-null value of the window's latest event (equal event times: the last in the "
        "event table or in the request).",
        "window_last(purchases.merchant, 30d)",
    ),
)

AGGREGATES = (
    *AGGREGATES,
    WindowAggregate(
        "window_nth_last",
        "nth_last",
        ANY,
        None,
        True,
        "null",
        "The non-null value of the n-th latest event (n = 1 is window_last); the last k values "
        "are k features, n = 1 .. k. n is an integer literal, 1 to 1,000.",
        "window_nth_last(purchases.amount, 2, 30d)",
        ranked=True,
    ),
)

MAX_RANK = 1_000
"""The largest n of window_nth_last."""

BY_NAME = {aggregate.name: aggregate for aggregate in AGGREGATES}

MAX_SPAN = 100_000 * 86_400_000_000
"""Lag + window length must stay below 100,000 days (in microseconds): longer than any event
history (timestamps span the years 1-9999, about 3.65 million days, so a window this long is
still meaningful), and far from int64's range, so that prediction time - lag - length is
computed without overflow (saturating at the smallest int64 below it)."""
