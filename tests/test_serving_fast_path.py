"""A one-row request takes precompiled per-column checks: the same feed as the general path,
and the general path (with its errors) for anything else."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from featuredsl.compiler.ir import InputColumn
from featuredsl.compiler.types import DType
from featuredsl.errors import DataError
from featuredsl.ingest import to_feed
from featuredsl.runtime.serving import fast_row_feed, row_converters

COLUMNS = (
    InputColumn("f", DType.FLOAT, True),
    InputColumn("g", DType.FLOAT, False),
    InputColumn("i", DType.INT, False),
    InputColumn("j", DType.INT, True),
    InputColumn("b", DType.BOOL, True),
    InputColumn("s", DType.STRING, True),
    InputColumn("t", DType.TIMESTAMP, False),
    InputColumn("u", DType.TIMESTAMP, True),
)
NAMES = frozenset(c.name for c in COLUMNS)
BASE = {"f": 1.5, "g": 2.0, "i": 3, "j": 4, "b": True, "s": "x", "t": 17, "u": 18}
CANDIDATES = [
    None, 0, -1, 2**53, 2**53 + 1, -(2**53) - 1, 2**60, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1,
    0.0, -0.0, 1.5, math.nan, math.inf, -math.inf, True, False, "", "x", "família", "a\x00b",
    "\ud800", "e\u0301", "ü", np.float64(2.0), np.int64(3), [1], b"x",
]  # fmt: skip


def _general(row: dict) -> dict | str:
    try:
        return to_feed([row], COLUMNS, source="request", extra="error", timestamp_unit="us")
    except DataError as error:
        return str(error)


def _same(a: dict, b: dict) -> bool:
    if set(a) != set(b):
        return False
    for name in a:
        x, y = a[name], b[name]
        if x.dtype != y.dtype or x.shape != y.shape:
            return False
        if x.dtype == np.float64:
            if (
                not (x.view(np.int64) == y.view(np.int64)).all()
                and not (np.isnan(x) & np.isnan(y)).all()
            ):
                return False
        elif x.tolist() != y.tolist():
            return False
    return True


@pytest.mark.parametrize(("name", "value"), list(itertools.product(sorted(NAMES), CANDIDATES)))
def test_the_fast_feed_is_the_general_feed_or_none(name: str, value: object) -> None:
    row = dict(BASE, **{name: value})
    fast = fast_row_feed(row, row_converters(COLUMNS, "us"), NAMES)
    general = _general(row)
    if fast is None:
        return  # the general path decides (and raises its own error)
    assert not isinstance(general, str), (
        f"fast path accepted what the general path refuses: {general}"
    )
    assert _same(fast, general)


def test_plain_rows_take_the_fast_path() -> None:
    for row in (BASE, dict(BASE, f=None, j=None, b=None, s=None, u=None), dict(BASE, g=7)):
        assert fast_row_feed(row, row_converters(COLUMNS, "us"), NAMES) is not None


@pytest.mark.parametrize(
    "row",
    [
        {k: v for k, v in BASE.items() if k != "g"},  # missing column
        dict(BASE, extra=1),  # undeclared column
        dict(BASE, g=None),  # null in a non-nullable column
        dict(BASE, s="a\x00b"),
        [BASE],  # not one row dict
    ],
)
def test_other_requests_take_the_general_path(row: object) -> None:
    assert fast_row_feed(row, row_converters(COLUMNS, "us"), NAMES) is None


def test_bare_integer_timestamps_take_the_fast_path_only_as_stated_microseconds() -> None:
    """Without a stated unit (or with another), the general path refuses or converts them."""
    for unit in (None, "s", "ms", "ns"):
        assert fast_row_feed(BASE, row_converters(COLUMNS, unit), NAMES) is None, unit
    timestamps = [c.name for c in COLUMNS if c.dtype.value == "timestamp"]
    assert timestamps
    far = dict(BASE, **{timestamps[0]: 2**62})  # beyond the year 9999: the general path refuses
    assert fast_row_feed(far, row_converters(COLUMNS, "us"), NAMES) is None
