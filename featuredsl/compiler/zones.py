"""IANA time zones as constant tables: every UTC-offset change of a zone in a fixed range.

A calendar op with a zone (`hour(t, "America/New_York")`) adds the zone's UTC offset in force at
the instant t; `make_timestamp(..., zone)` subtracts the offset in force at a local wall time.
Both offsets are looked up in a table of the zone's transitions, baked into both artifacts as
constants, so the numpy module and the ONNX graph need no time-zone library and agree bit for
bit. The tables come from the `tzdata` package (the IANA database as a Python package), loaded
explicitly so that a build does not depend on the machine's /usr/share/zoneinfo; its version is
part of the fingerprint of every spec that names a zone.

Range: transitions from 1900-01-01 to 2100-01-01 UTC. Before the range the zone's offset at
1900-01-01 applies, after it the offset at 2100-01-01 (no daylight saving time beyond 2100).
Within the range the results equal Python's `zoneinfo` (`datetime.fromtimestamp(t, zone)` for
instants; `datetime(..., tzinfo=zone)` with fold=0 for local times: in a fold, the earlier of
the two instants; in a gap, the offset before the transition, as zoneinfo does).
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.resources
from dataclasses import dataclass
from zoneinfo import ZoneInfo

FIRST = dt.datetime(1900, 1, 1, tzinfo=dt.timezone.utc)
LAST = dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc)
MICROS = 1_000_000
STEP_SECONDS = 6 * 3600  # no zone changes its offset twice within six hours


class UnknownZone(ValueError):
    """The name is not an IANA zone of the tzdata package."""


@dataclass(frozen=True)
class ZoneTable:
    """A zone's offsets: `offsets[i]` is in force from `utc[i - 1]` (inclusive) to `utc[i]`.

    All values are int64 microseconds. `wall[i]` is transition i in local wall time as zoneinfo
    resolves fold=0 (the transition instant plus the larger of the two offsets), so the offset of
    a local time L is `offsets[number of wall transitions <= L]`.
    """

    zone: str
    tzdata: str
    utc: tuple[int, ...]
    wall: tuple[int, ...]
    offsets: tuple[int, ...]


def tzdata_version() -> str:
    """The version of the tzdata package the tables are read from."""
    import tzdata

    return str(tzdata.IANA_VERSION)


def _zone(name: str) -> ZoneInfo:
    parts = name.split("/")
    if not name or any(not p or p.startswith(".") for p in parts):
        raise UnknownZone(name)
    resource = importlib.resources.files("tzdata.zoneinfo").joinpath(*parts)
    try:
        with resource.open("rb") as handle:
            return ZoneInfo.from_file(handle, key=name)
    except (OSError, ValueError) as err:
        raise UnknownZone(name) from err


def _offset(zone: ZoneInfo, seconds: int) -> int:
    delta = dt.datetime.fromtimestamp(seconds, zone).utcoffset()
    assert delta is not None
    return int(delta / dt.timedelta(microseconds=1))


@functools.lru_cache(maxsize=64)
def table(name: str) -> ZoneTable:
    """The transition table of IANA zone `name` (e.g. "America/New_York").

    Raises:
        UnknownZone: `name` is not a zone of the tzdata package.
    """
    zone = _zone(name)
    start, end = int(FIRST.timestamp()), int(LAST.timestamp())
    offsets = [_offset(zone, start)]
    utc: list[int] = []
    previous = start
    for seconds in range(start + STEP_SECONDS, end + STEP_SECONDS, STEP_SECONDS):
        seconds = min(seconds, end)
        offset = _offset(zone, seconds)
        if offset != offsets[-1]:
            low, high = previous, seconds  # offset(low) is the old one, offset(high) the new
            while high - low > 1:
                middle = (low + high) // 2
                if _offset(zone, middle) == offsets[-1]:
                    low = middle
                else:
                    high = middle
            utc.append(high * MICROS)
            offsets.append(offset)
        previous = seconds
    pairs = zip(utc, offsets[:-1], offsets[1:], strict=True)
    wall = [t + max(before, after) for t, before, after in pairs]
    return ZoneTable(name, tzdata_version(), tuple(utc), tuple(wall), tuple(offsets))
