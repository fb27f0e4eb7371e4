"""User data -> the canonical feed: one 1-D numpy array per declared input column.

The feed is the one data boundary every runtime shares (fit, the numpy module, the ONNX graph,
the parity runner). Per `InputColumn(name, dtype, nullable)`:

    float      feed[name] float64; NaN is null
    int        feed[name] int64
    bool       feed[name] bool
    string     feed[name] numpy object array of Python str
    timestamp  feed[name] int64 microseconds since 1970-01-01T00:00:00Z (a UTC instant)

A nullable non-float column also gets `feed[name + ".is_null"]` (bool, True = null); the value
array holds a placeholder under the mask (0, False, "", 0) so that "" or 0 never stands for null.

Accepted data: a pandas DataFrame (numpy, nullable extension, string, categorical, tz-aware
datetime and pyarrow-backed columns), a pyarrow Table or RecordBatch, a dict of columns
(numpy arrays, lists, pandas Series, pyarrow arrays), a list of row dicts (serving requests),
or a path to a Parquet or CSV file. Nothing is coerced silently: a value that does not fit its
declared type exactly is a `DataError` naming the source, the column, the first bad row and
its value, and saying what to do. See docs/fit.md for the rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from featuredsl.compiler.ir import InputColumn
from featuredsl.errors import DataError
from featuredsl.ingest.convert import PLACEHOLDER, convert
from featuredsl.ingest.files import read_table
from featuredsl.ingest.problems import Problem, join_problems
from featuredsl.ingest.sources import check_names, given_mask, raw_columns

Feed = dict[str, np.ndarray]


def to_feed(
    data: Any,
    inputs: Sequence[InputColumn],
    *,
    source: str = "data",
    extra: str = "ignore",
    timestamp_unit: str | None = None,
    row_offset: int = 0,
) -> Feed:
    """Convert `data` into the feed for `inputs`; raise DataError on anything that does not fit.

    `extra="ignore"` (training) skips undeclared columns; `extra="error"` (serving) rejects them.
    `timestamp_unit` ("s", "ms", "us", "ns") is the unit of bare integers in timestamp columns;
    without it they are refused (typed datetimes carry their own unit).
    `row_offset` is the source row of `data`'s first row when `data` is one batch of a larger
    source (see `featuredsl.ingest.batches`): errors then name the row of the whole source.
    """
    if extra not in ("ignore", "error"):
        raise ValueError(f"extra must be 'ignore' or 'error', not {extra!r}")
    if isinstance(data, (str, Path)):
        source = str(data) if source == "data" else source
        from featuredsl.ingest.batches import is_stream_path, open_source

        if is_stream_path(data):  # a directory or glob: every batch, in source order
            stream = open_source(data, inputs, source=source, timestamp_unit=timestamp_unit)
            return concat_feeds([feed for _, feed in stream.batches()], inputs)
        data = read_table(data, inputs, source=source)
    columns, length = raw_columns(data, source, inputs)
    check_names(list(columns), inputs, source, extra)
    feed: Feed = {}
    problems: list[str] = []
    for col in inputs:
        try:
            values, null = convert(columns[col.name](), col, timestamp_unit)
        except Problem as problem:
            problems.append(problem.render(col.name, row_offset))
            continue
        if len(values) != length:  # a defensive check: every adapter keeps the row count
            problems.append(f"column {col.name!r} has {len(values)} rows, expected {length}")
            continue
        if col.mask_name is not None and col.mask_name in columns:
            # The data carries the feed's own null mask (e.g. a feed passed back in): honour it,
            # so a placeholder under the mask is never read as a real value.
            try:
                given = given_mask(columns[col.mask_name](), col.mask_name, length)
            except Problem as problem:
                problems.append(problem.render(col.mask_name, row_offset))
                continue
            null = given if null is None else (null | given)
            values = values.copy()
            values[given] = PLACEHOLDER[col.dtype]
        feed[col.name] = values
        if col.mask_name is not None:
            feed[col.mask_name] = null if null is not None else np.zeros(length, dtype=bool)
    if problems:
        raise DataError(join_problems(source, problems))
    return feed


def concat_feeds(feeds: Sequence[Mapping[str, np.ndarray]], inputs: Sequence[InputColumn]) -> Feed:
    """The feeds one after the other (an empty feed of `inputs` when there are none)."""
    if not feeds:
        return to_feed({c.name: [] for c in inputs}, inputs)
    return {name: np.concatenate([feed[name] for feed in feeds]) for name in feeds[0]}


def feed_length(feed: Mapping[str, np.ndarray]) -> int:
    """Row count of a feed (0 for an empty feed); every array must have it."""
    lengths = {len(v) for v in feed.values()}
    if len(lengths) > 1:
        raise DataError(f"feed arrays have different lengths: {sorted(lengths)}")
    return lengths.pop() if lengths else 0


def take(feed: Mapping[str, np.ndarray], indices: Any) -> Feed:
    """The rows `indices` (an index array, a slice or a bool mask) of every array of a feed."""
    index = indices if isinstance(indices, slice) else np.asarray(indices)
    return {name: values[index] for name, values in feed.items()}
