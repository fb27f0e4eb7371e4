"""Data for generated specs: input columns, feeds biased towards their constants, fuzz cases."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

from featuredsl.artifact.conformance import edge_cases as edge
from featuredsl.artifact.contract import mask_name
from featuredsl.compiler.types import DType
from featuredsl.parity.fuzz.generator import Column, Draw, Pools, specs, texts
from featuredsl.parity.fuzz.signatures import (
    EXTRA_FLOATS,
    EXTRA_STRINGS,
    INT64_MAX,
    INT64_MIN,
    LEAP_DAYS,
)

Feed = dict[str, np.ndarray]


def float_values(pools: Pools) -> list[float]:
    return edge.float_candidates(pools.as_edge_pool()) + list(EXTRA_FLOATS)


def int_values(pools: Pools) -> list[int]:
    return edge.int_candidates(pools.as_edge_pool())


def string_values(pools: Pools) -> list[str]:
    return edge.string_candidates(pools.as_edge_pool()) + list(EXTRA_STRINGS)


def timestamp_values(pools: Pools) -> list[int]:
    return list(edge.TIMESTAMP_SPECIALS) + list(LEAP_DAYS)


def element_strategy(
    column: Column, pools: Pools, seen: Sequence[Any] = ()
) -> st.SearchStrategy[Any]:
    """Values of one column: edge values, the spec's literals and neighbours, random ones, and
    values seen in training (fitted statistics sit on those)."""
    options: list[st.SearchStrategy[Any]]
    if column.dtype is DType.FLOAT:
        ties = st.integers(-4, 4).map(lambda k: k + 0.5)  # where round-half-even and half-up differ
        options = [
            st.sampled_from(float_values(pools)),
            ties,
            st.floats(allow_nan=False),
            st.floats(-10, 10),
        ]
        if column.nullable:
            options.append(st.just(math.nan))
    elif column.dtype is DType.INT:
        options = [
            st.sampled_from(int_values(pools)),
            st.integers(-20, 20),
            st.integers(INT64_MIN, INT64_MAX),
        ]
    elif column.dtype is DType.BOOL:
        options = [st.booleans()]
    elif column.dtype is DType.STRING:
        options = [st.sampled_from(string_values(pools)), texts(max_size=6)]
    else:
        low, high = -62_135_596_800_000_000, 253_402_300_799_999_999  # years 1 to 9999
        options = [
            st.sampled_from(timestamp_values(pools)),
            st.integers(low, high),
            st.integers(-(2**40), 2**40),
        ]
    if seen:
        options.append(st.sampled_from(list(seen)))
    return st.one_of(options)


@st.composite
def feeds(
    draw: Draw,
    columns: Sequence[Column],
    pools: Pools,
    min_rows: int,
    max_rows: int,
    like: Feed | None = None,
) -> Feed:
    rows = draw(st.integers(min_rows, max_rows))
    feed: Feed = {}
    for column in columns:
        seen = _seen_values(like, column)
        values = draw(st.lists(element_strategy(column, pools, seen), min_size=rows, max_size=rows))
        feed[column.name] = to_array(column.dtype, values)
        if column.nullable and column.dtype is not DType.FLOAT:
            feed[mask_name(column.name)] = np.array(
                draw(st.lists(st.booleans(), min_size=rows, max_size=rows)), dtype=np.bool_
            )
    return feed


def _seen_values(like: Feed | None, column: Column) -> list[Any]:
    if like is None:
        return []
    values = like[column.name].tolist()
    if column.dtype is DType.FLOAT:
        values = [v for v in values if column.nullable or not math.isnan(v)]
    return values


def to_array(dtype: DType, values: Sequence[Any]) -> np.ndarray:
    if dtype is DType.FLOAT:
        return np.array(values, dtype=np.float64)
    if dtype in (DType.INT, DType.TIMESTAMP):
        return np.array(values, dtype=np.int64)
    if dtype is DType.BOOL:
        return np.array(values, dtype=np.bool_)
    array = np.empty(len(values), dtype=object)
    array[:] = list(values)
    return array


@dataclass(frozen=True)
class FuzzCase:
    spec: str
    columns: tuple[Column, ...]
    train: Feed
    test: Feed

    def describe(self) -> str:
        return f"spec:\n{self.spec}\ntrain feed:\n{_show_feed(self.train)}\ntest feed:\n{_show_feed(self.test)}"


def _show_feed(feed: Feed) -> str:
    return "\n".join(f"  {name} = {values.tolist()!r}" for name, values in feed.items())


@st.composite
def fuzz_cases(
    draw: Draw,
    focus: str = "mixed",
    max_depth: int = 3,
    max_features: int = 4,
    weights: Mapping[str, float] | None = None,
) -> FuzzCase:
    spec = draw(specs(focus, max_depth, max_features, weights))
    train = draw(feeds(spec.columns, spec.pools, 1, 24))
    test = draw(feeds(spec.columns, spec.pools, 1, 16, like=train))
    return FuzzCase(spec.text, spec.columns, train, test)
