"""Window consistency: were the served windows computed from the events the offline event log
holds?

The serving log keeps each request's events (the request encoding, docs/windows.md). For every
logged row and every window aggregate, the value computed from the served events is compared
with the value the training backfill computes from the offline event table at the same
prediction time (featuredsl.artifact.windows.backfill; both exactly, by the same kernels). A
difference means the serving path handed over other events than the offline log holds: a
stream lagging behind, events aggregated per session instead of per user, a truncated history.

For a row whose served events miss the latest offline events of its window, the lag that
explains it lies in [T - lag - m, T - lag - s) (m: the earliest missing event time, s: the
latest served one before it); the stream lag estimate is the stretch covered by the most such
intervals, with the share of mismatched rows it explains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from featuredsl.artifact.windows import backfill, convert_events, entity_codes
from featuredsl.compiler.frontend import check_source
from featuredsl.compiler.ir import Program
from featuredsl.errors import DataError
from featuredsl.ingest.feed import concat_feeds
from featuredsl.monitor.serving_log import read_log
from featuredsl.monitor.store_consistency import _best_stretch


@dataclass(frozen=True)
class WindowAgreement:
    """One window aggregate: served rows whose value equals the offline backfill's (bit for bit,
    nulls equal), and those that differ."""

    column: str
    expression: str
    rows: int
    match: int
    mismatch: int

    @property
    def match_rate(self) -> float:
        return self.match / self.rows if self.rows else 1.0


@dataclass(frozen=True)
class StreamLag:
    """The extra delay of the served events behind the offline log: [low, high] microseconds,
    explaining `explained` of the `mismatched` rows."""

    low: int
    high: int
    explained: int
    mismatched: int


@dataclass(frozen=True)
class WindowConsistencyReport:
    rows: int
    mismatched_rows: int
    windows: tuple[WindowAgreement, ...]
    lag: StreamLag | None

    @property
    def mismatch_rate(self) -> float:
        return self.mismatched_rows / self.rows if self.rows else 0.0


def check_window_consistency(
    manifest: Mapping[str, Any],
    log: str | Path,
    events: Mapping[str, Any],
    *,
    fingerprint: str | None = None,
    timestamp_unit: str | None = None,
    null_values: Sequence[str] = (),
) -> WindowConsistencyReport:
    """Compare every logged row's window aggregates, computed from its served events, with the
    backfill from the offline event tables.

    Args:
        manifest: the served build's manifest (its canonical spec declares the windows).
        log: the serving log (SQLite) of that build.
        events: each event source's offline table, by name (any form `Spec.fit` takes).
        fingerprint: only the requests of this fingerprint (default: the manifest's).
        timestamp_unit: the unit of plain integer times in the event tables ("s", "ms", "us",
            "ns"; the serving log's are int64 microseconds by definition).
        null_values: extra null tokens of CSV/TSV event tables.

    Raises:
        DataError: the build has no windows, or a missing or bad event table.
    """
    program = check_source(str(manifest["canonical_spec"]))
    if not program.windows:
        raise DataError("the build has no window aggregates: there is nothing to compare")
    wanted = fingerprint or str(manifest["fingerprint"])
    feeds = [record.inputs for record in read_log(log) if record.fingerprint == wanted]
    if not feeds:
        return WindowConsistencyReport(0, 0, (), None)
    served = concat_feeds(feeds, ())
    offline_events = convert_events(program, events, timestamp_unit, null_values)
    offline = backfill(program, served, offline_events)
    rows = len(served[program.sources[0].offsets_name]) - 1
    # The served events belong to their request row alone: the row number is their entity.
    by_row = {**served, **{s.key: np.arange(rows, dtype=np.int64) for s in program.sources}}
    from_served = backfill(program, by_row, _served_event_tables(program, served))
    differs = np.zeros(rows, dtype=bool)
    agreements = []
    for window in program.windows:
        names = [window.column] + ([window.input.mask_name] if window.input.mask_name else [])
        same = np.ones(rows, dtype=bool)
        for name in names:
            same &= _same(from_served[name], offline[name])
        differs |= ~same
        agreements.append(
            WindowAgreement(window.column, window.text, rows, int(same.sum()), int((~same).sum()))
        )
    lag = _stream_lag(program, served, offline_events, differs)
    return WindowConsistencyReport(rows, int(differs.sum()), tuple(agreements), lag)


def _served_event_tables(
    program: Program, served: Mapping[str, np.ndarray]
) -> dict[str, dict[str, np.ndarray]]:
    """Each source's served events as an event table whose entity is the request row's number
    (a row's events belong to it alone, even when rows share an entity key)."""
    tables: dict[str, dict[str, np.ndarray]] = {}
    for source in program.sources:
        offsets = served[source.offsets_name]
        rows = len(offsets) - 1
        table = {c.name: served[source.column_name(c.name)] for c in source.columns}
        masks = {
            c.name + ".is_null": served[source.column_name(c.name) + ".is_null"]
            for c in source.columns
            if source.column_name(c.name) + ".is_null" in served
        }
        table.update(masks)
        table[source.key] = np.repeat(np.arange(rows, dtype=np.int64), np.diff(offsets))
        tables[source.name] = table
    return tables


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind == "f":
        both_nan = np.isnan(a) & np.isnan(b)
        return both_nan | (a.view(np.int64) == b.view(np.int64))
    return np.asarray(a == b, dtype=bool)


def _stream_lag(
    program: Program,
    served: Mapping[str, np.ndarray],
    events_of: Mapping[str, Mapping[str, np.ndarray]],
    differs: np.ndarray,
) -> StreamLag | None:
    """The extra lag that best explains the mismatched rows (see the module docstring)."""
    if not differs.any() or program.freshness is None:
        return None
    intervals: list[tuple[int, int]] = []
    times = served[program.freshness.time]
    for source in program.sources:
        reach = max((w.length for w in program.windows if w.source == source.name), default=0)
        if not reach:
            continue
        offline = events_of[source.name]
        codes = entity_codes(served[source.key], offline)  # the table is in (entity, time) order
        keys, event_times = offline[source.key], offline[source.time]
        offsets = served[source.offsets_name]
        served_times = served[source.column_name(source.time)]
        for row in np.flatnonzero(differs):
            end = int(times[row]) - source.lag
            mine = served_times[offsets[row] : offsets[row + 1]]
            mine = mine[(mine >= end - reach) & (mine < end)]
            block = np.searchsorted(keys, [codes[row], codes[row] + 1])
            theirs = event_times[block[0] : block[1]] if codes[row] >= 0 else event_times[:0]
            theirs = theirs[(theirs >= end - reach) & (theirs < end)]
            newest = int(mine.max()) if len(mine) else end - reach - 1
            missing = theirs[theirs > newest]
            if len(missing) and len(missing) == len(theirs) - len(mine):
                intervals.append((end - int(missing.min()), end - newest - 1))
    if not intervals:
        return StreamLag(0, 0, 0, int(differs.sum()))
    low, high, explained = _best_stretch(intervals)
    return StreamLag(low, high, explained, int(differs.sum()))


__all__ = [
    "StreamLag",
    "WindowAgreement",
    "WindowConsistencyReport",
    "check_window_consistency",
]
