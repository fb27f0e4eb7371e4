"""Window aggregates on tables: the training backfill and the request encoding built from it.

`backfill` gives every label row the value of each window aggregate at its prediction time
(point-in-time correct: docs/windows.md) from an event table: it sorts the events once by
(entity, event time), finds each row's entity block, and runs the same window kernels the
numpy module runs on a request (featuredsl.backends.numpy.windows, .exact_sum). The derived
columns it returns complete the feed the row features are fitted and computed on.

`request_feed` builds the serving encoding of label rows (`source.offsets` plus one array per
event column) from the same event table: what a serving path sends, and what the parity tests
hand to the numpy module and the ONNX graph to prove they compute the backfill's values.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np

from featuredsl.artifact.backfill import WindowRequest, entity_blocks, entity_time_order
from featuredsl.artifact.backfill import backfill as backfill_rows
from featuredsl.backends.numpy import windows as kernels
from featuredsl.backends.numpy.evaluate import evaluate
from featuredsl.compiler.ir import EventSource, InputColumn, Program, Window
from featuredsl.compiler.types import DType
from featuredsl.errors import DataError
from featuredsl.ingest.events import events_block
from featuredsl.ingest.feed import ranges

EventFeeds = Mapping[str, Mapping[str, np.ndarray]]
"""Canonical event tables by source name: column name (the key column, the event time and
every declared event column, plain names) -> array; `<column>.is_null` masks as in feeds."""


def event_columns(program: Program, source: EventSource) -> tuple[InputColumn, ...]:
    """The columns an event table of `source` must have: the entity key (typed as the input
    column it joins) and the declared event columns."""
    key = next(c for c in program.inputs if c.name == source.key)
    own = tuple(c for c in source.columns if c.name != key.name)
    return (InputColumn(key.name, key.dtype, False), *own)


def convert_events(
    program: Program,
    events: Mapping[str, Any] | None,
    timestamp_unit: str | None = None,
    null_values: Sequence[str] = (),
) -> dict[str, dict[str, np.ndarray]]:
    """Each event source's table (a DataFrame, Arrow table, dict of columns, rows or a path)
    converted and checked like any input: the key and every declared column, typed as declared
    (`null_values`: extra null tokens of CSV/TSV files, as for the label table).

    Raises:
        DataError: a source of the spec has no table, a table names no source, or a column is
            missing or mistyped (column, row and value named).
    """
    from featuredsl.ingest import read_table, to_feed

    if events is not None and not isinstance(events, Mapping):
        example = ", ".join(f"{s.name!r}: TABLE" for s in program.sources) or "'source': TABLE"
        raise DataError(
            f"events= maps each event source to its table (events={{{example}}}), not "
            f"{type(events).__name__}"
        )
    given = dict(events or {})
    unknown = sorted(set(given) - {s.name for s in program.sources})
    if unknown:
        known = ", ".join(s.name for s in program.sources) or "none"
        raise DataError(
            f"events given for {', '.join(unknown)}, which the spec does not declare ({known})"
        )
    converted: dict[str, dict[str, np.ndarray]] = {}
    for source in program.sources:
        if source.name not in given:
            raise DataError(
                f"the spec aggregates event source {source.name!r} over windows, and no events "
                f"were given for it: pass events={{{source.name!r}: TABLE}} (Python) or "
                f"--events {source.name}=PATH (command line)"
            )
        columns = event_columns(program, source)
        # The key and the event time are read as nullable, so that a null is named for what
        # it is (an event without its entity or its time), not with the input block's hint.
        lenient = tuple(
            InputColumn(c.name, c.dtype, True) if c.name in (source.key, source.time) else c
            for c in columns
        )
        where = f"events {source.name!r}"
        table = given[source.name]
        if isinstance(table, (str, os.PathLike)):
            table = read_table(Path(table), lenient, source=where, null_values=null_values)
        feed = to_feed(
            table,
            lenient,
            source=where,
            timestamp_unit=timestamp_unit,
            declared_in=events_block(source.name),
        )
        for name, role in ((source.key, "its entity key"), (source.time, "its event time")):
            nulls = _nulls(feed, name)
            if nulls.any():
                row = int(np.flatnonzero(nulls)[0])
                raise DataError(
                    f"{where}: column {name!r}, row {row}: is null; every event needs {role}: "
                    f"drop or fix the {int(nulls.sum()):,} event(s) without it"
                )
            feed.pop(name + ".is_null", None)
        converted[source.name] = _entity_sorted(feed, source)
    return converted


ENTITY_KEYS = "__entity_keys__"
"""In a converted event table: the entity key of each code (the key column holds int64 codes)."""


def _entity_sorted(feed: dict[str, np.ndarray], source: EventSource) -> dict[str, np.ndarray]:
    """The event table factorized and sorted once, for every backfill that reads it: the key
    column becomes int64 codes (first-seen order, one dict pass: no sort of Python strings),
    `ENTITY_KEYS` holds the key of each code, and the rows are in (entity, event time) order,
    stably (equal times keep the table's order)."""
    index: dict[Any, int] = {}
    keys = feed[source.key].tolist()
    codes = np.fromiter((index.setdefault(k, len(index)) for k in keys), np.int64, len(keys))
    order = entity_time_order(codes, feed[source.time])
    out = {name: values[order] for name, values in feed.items() if name != source.key}
    out[source.key] = codes[order]
    out[ENTITY_KEYS] = np.array([*index, None], dtype=object)[:-1]  # stays 1-D for any key
    return out


def entity_codes(label_keys: np.ndarray, events: Mapping[str, np.ndarray]) -> np.ndarray:
    """The labels' keys as the event table's int64 codes (-1: an entity without events), or
    the keys themselves for a table that was not factorized."""
    if ENTITY_KEYS not in events:
        return np.asarray(label_keys)
    index = {key: code for code, key in enumerate(events[ENTITY_KEYS].tolist())}
    keys = np.asarray(label_keys).tolist()
    return np.fromiter(map(index.get, keys, repeat(-1)), np.int64, len(keys))


def _nulls(feed: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    """The null rows of a converted column (its mask, or NaN for a float)."""
    if name + ".is_null" in feed:
        return np.asarray(feed[name + ".is_null"], dtype=bool)
    values = feed[name]
    if values.dtype.kind == "f":
        return np.isnan(values)
    return np.zeros(len(values), dtype=bool)


def backfill(
    program: Program, feed: Mapping[str, np.ndarray], event_feeds: EventFeeds
) -> dict[str, np.ndarray]:
    """Every window aggregate of `program` for every row of `feed`, point-in-time correct.

    Args:
        program: the checked (or fitted) program; its windows are computed.
        feed: the canonical feed of the label rows (needs each source's key column and the
            prediction-time column, int64 microseconds).
        event_feeds: `convert_events`' result.

    Returns:
        name -> array: each window's derived column (int64 / float64 / bool / object by its
        dtype, [N]) and, for a nullable non-float one, its `.is_null` mask.

    The work is featuredsl.artifact.backfill's: one sort of each source's events, each row's
    entity block, the window kernels over it (O(E log E + W (N log E + E)) time, a few arrays
    the size of the event table; no row x event expansion). Here the `where =` filters are
    evaluated over the events (by the numpy module's code) and the windows become requests.
    """
    assert program.freshness is not None, "windows end at the prediction time"
    row_times = np.asarray(feed[program.freshness.time], dtype=np.int64)
    out: dict[str, np.ndarray] = {}
    for source in program.sources:
        windows = [w for w in program.windows if w.source == source.name]
        if not windows:
            continue
        events = event_feeds[source.name]
        filters = _filters(source, windows, events)
        columns = {
            c.name: (events[c.name], events.get(c.name + ".is_null")) for c in source.columns
        }
        shared: dict[tuple[int, str | None], np.ndarray] = {}  # one mask object per filter+column
        requests = []
        for window in windows:
            key = (id(window.where), window.value)
            if key not in shared:
                shared[key] = _included(window, events, filters)
            requests.append(
                WindowRequest(
                    kind=window.kind,  # type: ignore[arg-type]
                    column=window.value,
                    dtype=window.value_dtype,
                    included=shared[key],
                    length=window.length,
                    lag=window.lag,
                    n=window.rank or 1,
                )
            )
        results = backfill_rows(
            entity_codes(feed[source.key], events),
            row_times,
            events[source.key],
            events[source.time],
            columns,
            requests,
        )
        for window, (value, missing) in zip(windows, results, strict=True):
            out[window.column] = value
            if window.input.mask_name is not None:
                assert missing is not None
                out[window.input.mask_name] = missing
    return out


def _filters(
    source: EventSource, windows: list[Window], events: Mapping[str, np.ndarray]
) -> dict[Window, np.ndarray]:
    """Each filtered window's `where =` condition over the events (table order)."""
    nodes = [w.where for w in windows if w.where is not None]
    if not nodes:
        return {}
    feed = {source.column_name(name): values for name, values in events.items()}
    probe = Program(f"{source.name} filters", source.event_inputs, (), "")
    values = evaluate(probe, nodes, feed)
    return {w: values[w.where] for w in windows if w.where is not None}


def _included(
    window: Window, events: Mapping[str, np.ndarray], filters: Mapping[Window, np.ndarray]
) -> np.ndarray:
    """Events the aggregate uses: the filter's, and with a value column its non-null ones."""
    any_events = next(iter(events.values()))
    included = filters.get(window, np.ones(len(any_events), dtype=bool))
    if window.value is not None:
        values = events[window.value]
        if window.value_dtype is DType.FLOAT:
            included = included & ~np.isnan(values)
        elif (mask := events.get(window.value + ".is_null")) is not None:
            included = included & ~mask
    return np.asarray(included, dtype=bool)


def request_feed(
    program: Program,
    feed: Mapping[str, np.ndarray],
    event_feeds: EventFeeds,
    margin: int = 4,
) -> dict[str, np.ndarray]:
    """The serving encoding of `feed`'s rows: the row columns, and per source `source.offsets`
    and one array per event column (`source.column`, masks `source.column.is_null`) holding
    each row's entity events that any window of the source can reach, plus up to `margin`
    events on either side (so that the window edges are exercised), in event-time order."""
    out = dict(feed)
    assert program.freshness is not None
    row_times = np.asarray(feed[program.freshness.time], dtype=np.int64)
    for source in program.sources:
        windows = [w for w in program.windows if w.source == source.name]
        if not windows:
            continue
        events = event_feeds[source.name]
        order, starts, ends = entity_blocks(
            entity_codes(feed[source.key], events), events[source.key], events[source.time]
        )
        times = events[source.time][order]
        reach = max(w.length for w in windows)
        lo, _ = kernels.window_bounds(times, starts, ends, row_times, reach, source.lag)
        _, hi = kernels.window_bounds(times, starts, ends, row_times, 1, source.lag)
        first = np.maximum(lo - margin, starts)
        last = np.minimum(hi + margin, ends)
        offsets, positions = ranges(first, last - first)
        taken = order[positions]
        out[f"{source.name}.offsets"] = offsets
        for column in source.columns:
            out[source.column_name(column.name)] = events[column.name][taken]
            mask = events.get(column.name + ".is_null")
            if mask is not None:
                out[source.column_name(column.name) + ".is_null"] = mask[taken]
    return out


class BackfilledStream:
    """A stream of label batches (featuredsl.ingest.batches.BatchSource) whose every batch
    carries the window aggregates, backfilled from event tables held in memory: what
    `Spec.fit_stream` fits on for a spec with windows.

    Args:
        stream: the label rows, streamed.
        program: the checked program (its windows).
        event_feeds: `convert_events`' result.
    """

    def __init__(self, stream: Any, program: Program, event_feeds: EventFeeds):
        self.stream = stream
        self.program = program
        self.event_feeds = event_feeds

    @property
    def rows(self) -> int:
        """The label rows of the stream."""
        rows: int = self.stream.rows
        return rows

    def batches(self) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        """(row offset, feed with the window aggregates) pairs, in source order."""
        for offset, feed in self.stream.batches():
            yield offset, {**feed, **backfill(self.program, feed, self.event_feeds)}


def label_columns(program: Program, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A backfilled feed without its window aggregates' columns: the label rows alone."""
    derived = {n for c in program.window_inputs for n in (c.name, c.mask_name) if n}
    return {name: values for name, values in feed.items() if name not in derived}


class Backfilled:
    """A streaming transformer (featuredsl.artifact.transform.Transformer) for a build with
    window aggregates: each batch of label rows is backfilled from the event tables (held in
    memory, converted once) and run through the build's numpy module.

    Args:
        artifacts: the loaded build (`featuredsl.load`).
        events: each event source's table by name (as `Spec.fit` takes them).
        timestamp_unit: the unit of bare integers in the event tables' timestamp columns.
        null_values: extra null tokens of CSV/TSV event tables.

    Raises:
        DataError: a missing or bad event table (named).
    """

    def __init__(
        self,
        artifacts: Any,
        events: Mapping[str, Any],
        timestamp_unit: str | None,
        null_values: Sequence[str] = (),
    ):
        from featuredsl.compiler.frontend import check_source

        self.artifacts = artifacts
        self.fingerprint: str = artifacts.fingerprint
        self.feature_names: tuple[str, ...] = artifacts.feature_names
        # The windows do not depend on fitted constants (filters cannot use statistics).
        self.program = check_source(str(artifacts.manifest["canonical_spec"]))
        self.event_feeds = convert_events(self.program, events, timestamp_unit, null_values)

    def transform_feed(self, feed: Mapping[str, np.ndarray], float32: bool = False) -> np.ndarray:
        """The features of a batch of label rows: float64 [rows, features]."""
        backfilled = {**feed, **backfill(self.program, feed, self.event_feeds)}
        result: np.ndarray = self.artifacts.transform_feed(backfilled, float32=float32)
        return result
