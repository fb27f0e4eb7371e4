"""Requests with events -> the request encoding of event sources (docs/windows.md).

A request for a spec with window aggregates carries, for each row, the entity's recent events
of each event source, under the source's name: in a list of row dicts,

    {"user_id": "u1", "event_ts": ..., "purchases": [{"purchase_ts": ..., "amount": 12.5}, ...]}

and in a dict of columns, `{"purchases": [[...events of row 0...], [...row 1...], ...]}`. Each
event is a dict of the source's declared columns (typed as declared, like any input; its time
column in the same units as the row's timestamps). The canonical encoding is `source.offsets`
(int64, rows + 1: row i's events are offsets[i]:offsets[i + 1]) and one flat array per event
column (`source.column`, with a `.is_null` mask for a nullable non-float column). Each row's
events must be in event-time order; equal times keep their order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from featuredsl.compiler.ir import EventSource, InputColumn
from featuredsl.errors import DataError
from featuredsl.ingest.feed import to_feed

Feed = dict[str, np.ndarray]


def split_events(data: Any, sources: Sequence[EventSource]) -> tuple[Any, dict[str, list[Any]]]:
    """(the row data without the sources' entries, each source's per-row event lists).

    Raises DataError when a source's entry is missing or is not one list of events per row."""
    names = [s.name for s in sources]
    if isinstance(data, Mapping) and _one_row(data, names):
        data = [data]  # one row dict: its columns hold single values, its sources event lists
    if isinstance(data, Mapping):
        rows = {k: v for k, v in data.items() if k not in names}
        found = {}
        for name in names:
            if name not in data:
                raise DataError(_missing(name))
            found[name] = list(data[name])
        return rows, found
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        plain, found = [], {name: [] for name in names}
        for index, row in enumerate(data):
            if not isinstance(row, Mapping):
                return data, {}  # not row dicts: to_feed names the problem
            for name in names:
                if name not in row:
                    raise DataError(f"row {index}: " + _missing(name))
                found[name].append(row[name])
            plain.append({k: v for k, v in row.items() if k not in names})
        return plain, found
    raise DataError(
        "a request for window aggregates is a list of row dicts or a dict of columns, each row "
        f"carrying its events under {', '.join(map(repr, names))} (docs/windows.md)"
    )


def _one_row(data: Mapping[str, Any], names: Sequence[str]) -> bool:
    """Whether a dict is one row (single values; each source a list of event dicts) rather than
    a dict of columns (each column a sequence of values, each source a list of event lists)."""
    values = [v for k, v in data.items() if k not in names]
    scalars = all(isinstance(v, (str, bytes)) or np.ndim(v) == 0 for v in values)
    events = [data[name] for name in names if name in data]
    return (
        scalars
        and bool(values)
        and all(isinstance(e, list) and all(isinstance(x, Mapping) for x in e) for e in events)
    )


def check_rows(per_source: Mapping[str, Sequence[Any]], rows: int) -> None:
    """Each source gives one event list per row; DataError naming the source otherwise."""
    for name, lists in per_source.items():
        if len(lists) != rows:
            raise DataError(
                f"event source {name!r} has {len(lists)} event list(s) for {rows} row(s): give "
                "each row its list of events ([] for none)"
            )


def _missing(name: str) -> str:
    return (
        f"no events for event source {name!r}: give each row its entity's recent events, "
        f"{name!r}: [{{column: value, ...}}, ...] ([] for none; docs/windows.md)"
    )


def events_feed(
    source: EventSource,
    per_row: Sequence[Any],
    timestamp_unit: str | None = None,
    row_keys: np.ndarray | None = None,
) -> Feed:
    """One source's per-row event lists as its request encoding; DataError naming the row,
    the event and the column of a bad value, or events out of time order. An event may carry
    the source's key column (as rows of the event table do): it must equal its row's key
    (`row_keys`, the rows' key values), or the event belongs to another entity."""
    lengths: list[int] = []
    flat: list[Mapping[str, Any]] = []
    for row, events in enumerate(per_row):
        if (
            isinstance(events, Mapping)
            or not isinstance(events, Sequence)
            or isinstance(events, (str, bytes))
        ):
            raise DataError(
                f"event source {source.name!r}, row {row}: expected a list of events (dicts "
                f"of {', '.join(c.name for c in source.columns)}), got {type(events).__name__}"
            )
        for index, event in enumerate(events):
            if not isinstance(event, Mapping):
                raise DataError(
                    f"event source {source.name!r}, row {row}, event {index}: expected a dict "
                    f"of its columns, got {type(event).__name__}"
                )
        lengths.append(len(events))
        flat.extend(events)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    columns = tuple(InputColumn(c.name, c.dtype, c.nullable) for c in source.columns)
    table = {c.name: [event.get(c.name, _ABSENT) for event in flat] for c in columns}
    for column in columns:
        absent = [i for i, v in enumerate(table[column.name]) if v is _ABSENT]
        if absent:
            row, index = _locate(offsets, absent[0])
            raise DataError(
                f"event source {source.name!r}, row {row}, event {index}: no value for column "
                f"{column.name!r} (declared {column.dtype}{'?' if column.nullable else ''})"
            )
        extra = {k for event in flat for k in event} - {c.name for c in columns} - {source.key}
        if extra:
            raise DataError(
                f"event source {source.name!r}: events carry undeclared column(s) "
                f"{', '.join(sorted(map(repr, extra)))}; declare them in its events block"
            )
    try:
        converted = to_feed(
            table,
            columns,
            source=f"event source {source.name!r}",
            timestamp_unit=timestamp_unit,
            declared_in=events_block(source.name),
        )
    except DataError as error:
        raise DataError(_with_rows(str(error), offsets)) from None
    if row_keys is not None:
        _check_keys(source, flat, offsets, row_keys)
    times = converted[source.time]
    late = first_out_of_order(times, offsets)
    if late is not None:
        row, index = _locate(offsets, late)
        raise DataError(
            f"event source {source.name!r}, row {row}: event {index} is earlier than the one "
            "before it; send each row's events in event-time order (equal times keep their order)"
        )
    feed = {source.offsets_name: offsets}
    feed.update({f"{source.name}.{name}": values for name, values in converted.items()})
    return feed


_ABSENT = object()


def events_block(source: str) -> str:
    """Where an event source's columns are declared, as fixes name it."""
    return f"the events block of {source!r}"


def _check_keys(
    source: EventSource, flat: Sequence[Mapping[str, Any]], offsets: np.ndarray, keys: Any
) -> None:
    """Events that carry the key must carry their own row's."""
    rows = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    values = np.asarray(keys).tolist()
    for index, event in enumerate(flat):
        if source.key in event and event[source.key] != values[rows[index]]:
            row, position = _locate(offsets, index)
            raise DataError(
                f"event source {source.name!r}, row {row}, event {position}: belongs to "
                f"{source.key} {event[source.key]!r}, not the row's {values[row]!r}; send each "
                "row the events of its own entity"
            )


def first_out_of_order(times: np.ndarray, offsets: np.ndarray) -> int | None:
    """The first event (flat index) earlier than the event before it in its own row, or None
    when every row's events are in event-time order. O(E)."""
    earlier = np.zeros(len(times), dtype=bool)
    earlier[1:] = times[1:] < times[:-1]
    earlier[offsets[:-1][offsets[:-1] < len(times)]] = False  # a row's first event may be earlier
    found = np.flatnonzero(earlier)
    return int(found[0]) if len(found) else None


def _locate(offsets: np.ndarray, event: int) -> tuple[int, int]:
    """(row, index of the event within the row) of flat event number `event`."""
    row = int(np.searchsorted(offsets, event, side="right")) - 1
    return row, event - int(offsets[row])


def _with_rows(message: str, offsets: np.ndarray) -> str:
    """A conversion error about flat event `row N` restated as (row, event)."""

    def restate(match: re.Match[str]) -> str:
        row, index = _locate(offsets, int(match.group(1)))
        return f"row {row}, event {index}"

    return re.sub(r"\brow (\d+)", restate, message, count=1)
