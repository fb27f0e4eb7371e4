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

from featuredsl.artifact.contract import OFFSETS_SUFFIX
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
    declared_in: str = "the spec's input block",
) -> Feed:
    """Convert `data` into the feed for `inputs`; raise DataError on anything that does not fit.

    `extra="ignore"` (training) skips undeclared columns; `extra="error"` (serving) rejects them.
    `timestamp_unit` ("s", "ms", "us", "ns") is the unit of bare integers in timestamp columns;
    without it they are refused (typed datetimes carry their own unit).
    `row_offset` is the source row of `data`'s first row when `data` is one batch of a larger
    source (see `featuredsl.ingest.batches`): errors then name the row of the whole source.
    `declared_in` is where the spec declares `inputs`, as the fix for a null names it (an event
    source's columns: "the events block of 'purchases'").
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
            values, null = convert(columns[col.name](), col, timestamp_unit, declared_in)
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


def event_groups(feed: Mapping[str, np.ndarray]) -> dict[str, list[str]]:
    """The event sources of a feed in the request encoding (docs/windows.md): offsets key
    (`source.offsets`, rows + 1) -> the keys of the source's event arrays (`source.*`)."""
    groups = {}
    for key in feed:
        if key.endswith(OFFSETS_SUFFIX):
            prefix = key[: -len(OFFSETS_SUFFIX)] + "."
            groups[key] = [k for k in feed if k.startswith(prefix) and k != key]
    return groups


def concat_feeds(feeds: Sequence[Mapping[str, np.ndarray]], inputs: Sequence[InputColumn]) -> Feed:
    """The feeds one after the other (an empty feed of `inputs` when there are none). Event
    sources are concatenated too: each feed's offsets shifted by the events before it."""
    if not feeds:
        return to_feed({c.name: [] for c in inputs}, inputs)
    out = {name: np.concatenate([feed[name] for feed in feeds]) for name in feeds[0]}
    for offsets in event_groups(feeds[0]):
        shifted, total = [np.zeros(1, dtype=np.int64)], 0
        for feed in feeds:
            shifted.append(np.asarray(feed[offsets][1:], dtype=np.int64) + total)
            total += int(feed[offsets][-1])
        out[offsets] = np.concatenate(shifted)
    return out


def feed_length(feed: Mapping[str, np.ndarray]) -> int:
    """Row count of a feed (0 for an empty feed); every row array must have it (an event
    source's offsets have one more, its event arrays their own length)."""
    groups = event_groups(feed)
    events = {k for keys in groups.values() for k in keys}
    lengths = {len(v) for k, v in feed.items() if k not in events and k not in groups}
    lengths |= {len(feed[k]) - 1 for k in groups}
    if len(lengths) > 1:
        raise DataError(f"feed arrays have different lengths: {sorted(lengths)}")
    return lengths.pop() if lengths else 0


def ranges(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ranges `starts[i] : starts[i] + lengths[i]` (int64 [N] each) laid end to end: (their
    offsets, int64 [N + 1] from 0, and the position of every element of every range, int64 [E])."""
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    positions = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
    return offsets, positions


def take(feed: Mapping[str, np.ndarray], indices: Any) -> Feed:
    """The rows `indices` (an index array, a slice or a bool mask) of every array of a feed;
    an event source keeps those rows' events, in row order."""
    groups = event_groups(feed)
    if not groups:
        index = indices if isinstance(indices, slice) else np.asarray(indices)
        return {name: values[index] for name, values in feed.items()}
    rows = np.arange(feed_length(feed))[indices]
    events = {k for keys in groups.values() for k in keys}
    out = {k: v[rows] for k, v in feed.items() if k not in events and k not in groups}
    for key, members in groups.items():
        offsets = np.asarray(feed[key], dtype=np.int64)
        new, positions = ranges(offsets[:-1][rows], np.diff(offsets)[rows])
        out[key] = new
        out.update({member: feed[member][positions] for member in members})
    return out
