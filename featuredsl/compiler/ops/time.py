"""Calendar and duration ops on UTC timestamps (int64 microseconds), in exact integer arithmetic."""

from __future__ import annotations

from featuredsl.compiler import zones
from featuredsl.compiler.builder import (
    MICROS_PER_DAY,
    MICROS_PER_SECOND,
    Emitter,
    LoweringError,
    Value,
    literal,
)
from featuredsl.compiler.ir import Node
from featuredsl.compiler.op import (
    INT_ONLY,
    PROPAGATE,
    STR,
    TS,
    Op,
    Returns,
    param,
)
from featuredsl.compiler.types import DType


def _as_int(e: Emitter, t: Value) -> Node:
    # timestamps are int64 micros; re-type the node so integer primitives apply.
    return e.unary("to_int", t.node, DType.INT) if t.dtype is DType.TIMESTAMP else t.node


def _zone_table(zone: Value) -> zones.ZoneTable:
    name = literal(zone)
    try:
        return zones.table(name)
    except zones.UnknownZone:
        raise LoweringError(
            f"unknown time zone {name!r}",
            'use an IANA zone name such as "America/New_York", "Europe/Berlin" or "UTC"',
            zone.node.span,
        ) from None


def _offset_at(e: Emitter, utc: Node, table: zones.ZoneTable, transitions: tuple[int, ...]) -> Node:
    """The zone's UTC offset (int64 micros) in force at `utc`, looked up among `transitions`."""
    if not transitions:
        return e.i(table.offsets[0])
    # Every transition lies within 2**53 micros of the epoch, where int64 -> float64 is exact.
    edges = e.b.list_const(DType.FLOAT, [float(v) for v in transitions], e.span)
    index = e.node("bucketize", (e.to_float(utc), edges), DType.INT)
    offsets = e.b.list_const(DType.INT, list(table.offsets), e.span)
    return e.node("gather", (index, offsets), DType.INT, zone=table.zone, tzdata=table.tzdata)


def _local(e: Emitter, t: Value, zone: Value | None) -> Node:
    """Wall-clock microseconds: the instant's micros plus the zone's offset (UTC: none)."""
    micros = _as_int(e, t)
    if zone is None:
        return micros
    table = _zone_table(zone)
    return e.add(micros, _offset_at(e, micros, table, table.utc))


def _days(e: Emitter, local: Node) -> Node:
    return e.floordiv(local, e.i(MICROS_PER_DAY))


def _civil(e: Emitter, local: Node) -> tuple[Node, Node, Node]:
    """(year, month, day) by Howard Hinnant's days-from-civil inverse, in exact int64 arithmetic."""
    z = e.add(_days(e, local), e.i(719_468))
    era = e.floordiv(z, e.i(146_097))
    doe = e.sub(z, e.mul(era, e.i(146_097)))
    yoe_num = e.sub(
        e.add(e.sub(doe, e.floordiv(doe, e.i(1_460))), e.floordiv(doe, e.i(36_524))),
        e.floordiv(doe, e.i(146_096)),
    )
    yoe = e.floordiv(yoe_num, e.i(365))
    doy = e.sub(
        doe, e.sub(e.add(e.mul(e.i(365), yoe), e.floordiv(yoe, e.i(4))), e.floordiv(yoe, e.i(100)))
    )
    mp = e.floordiv(e.add(e.mul(e.i(5), doy), e.i(2)), e.i(153))
    day = e.add(e.sub(doy, e.floordiv(e.add(e.mul(e.i(153), mp), e.i(2)), e.i(5))), e.i(1))
    month = e.where(e.binary("lt", mp, e.i(10)), e.add(mp, e.i(3)), e.sub(mp, e.i(9)))
    year = e.add(e.add(yoe, e.mul(era, e.i(400))), e.to_int(e.binary("le", month, e.i(2))))
    return year, month, day


def _days_from_civil(e: Emitter, year: Node, month: Node, day: Node) -> Node:
    """Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's days_from_civil)."""
    march_based = e.binary("le", month, e.i(2))
    y = e.sub(year, e.to_int(march_based))
    era = e.floordiv(y, e.i(400))
    yoe = e.sub(y, e.mul(era, e.i(400)))
    mp = e.where(march_based, e.add(month, e.i(9)), e.sub(month, e.i(3)))
    doy = e.add(e.floordiv(e.add(e.mul(e.i(153), mp), e.i(2)), e.i(5)), e.sub(day, e.i(1)))
    doe = e.add(
        e.sub(e.add(e.mul(yoe, e.i(365)), e.floordiv(yoe, e.i(4))), e.floordiv(yoe, e.i(100))),
        doy,
    )
    return e.sub(e.add(e.mul(era, e.i(146_097)), doe), e.i(719_468))


def _micros_of_day(e: Emitter, local: Node) -> Node:
    return e.mod(local, e.i(MICROS_PER_DAY))


def lower_year(e: Emitter, t: Value, zone: Value | None = None) -> Value:
    return Value(_civil(e, _local(e, t, zone))[0])


def lower_month(e: Emitter, t: Value, zone: Value | None = None) -> Value:
    return Value(_civil(e, _local(e, t, zone))[1])


def lower_day(e: Emitter, t: Value, zone: Value | None = None) -> Value:
    return Value(_civil(e, _local(e, t, zone))[2])


def lower_hour(e: Emitter, t: Value, zone: Value | None = None) -> Value:
    return Value(e.floordiv(_micros_of_day(e, _local(e, t, zone)), e.i(3_600 * MICROS_PER_SECOND)))


def lower_minute(e: Emitter, t: Value, zone: Value | None = None) -> Value:
    minutes = e.floordiv(_micros_of_day(e, _local(e, t, zone)), e.i(60 * MICROS_PER_SECOND))
    return Value(e.mod(minutes, e.i(60)))


def lower_second(e: Emitter, t: Value, zone: Value | None = None) -> Value:
    seconds = e.floordiv(_micros_of_day(e, _local(e, t, zone)), e.i(MICROS_PER_SECOND))
    return Value(e.mod(seconds, e.i(60)))


def lower_day_of_week(e: Emitter, t: Value, zone: Value | None = None) -> Value:
    # 1970-01-01 was a Thursday (3 when Monday is 0).
    return Value(e.mod(e.add(_days(e, _local(e, t, zone)), e.i(3)), e.i(7)))


def lower_day_of_year(e: Emitter, t: Value, zone: Value | None = None) -> Value:
    local = _local(e, t, zone)
    year = _civil(e, local)[0]
    jan1 = _days_from_civil(e, year, e.i(1), e.i(1))
    return Value(e.add(e.sub(_days(e, local), jan1), e.i(1)))


def lower_days_between(e: Emitter, start: Value, end: Value, zone: Value | None = None) -> Value:
    if zone is None:
        return Value(e.floordiv(e.sub(_as_int(e, end), _as_int(e, start)), e.i(MICROS_PER_DAY)))
    return Value(e.sub(_days(e, _local(e, end, zone)), _days(e, _local(e, start, zone))))


def lower_seconds_between(e: Emitter, start: Value, end: Value) -> Value:
    return Value(e.floordiv(e.sub(_as_int(e, end), _as_int(e, start)), e.i(MICROS_PER_SECOND)))


def lower_make_timestamp(
    e: Emitter,
    year: Value,
    month: Value,
    day: Value,
    hour: Value | None = None,
    minute: Value | None = None,
    second: Value | None = None,
    zone: Value | None = None,
) -> Value:
    parts = [p.node if p is not None else e.i(0) for p in (hour, minute, second)]
    days = _days_from_civil(e, year.node, month.node, day.node)
    clock = e.add(e.add(e.mul(parts[0], e.i(3_600)), e.mul(parts[1], e.i(60))), parts[2])
    local = e.add(e.mul(days, e.i(MICROS_PER_DAY)), e.mul(clock, e.i(MICROS_PER_SECOND)))
    if zone is None:
        utc = local
    else:
        table = _zone_table(zone)
        utc = e.sub(local, _offset_at(e, local, table, table.wall))
    # A date or time that does not exist (month 13, 31 February, hour 24) is null.
    last_day = e.sub(
        _days_from_civil(
            e,
            e.add(year.node, e.to_int(e.eq(month.node, e.i(12)))),
            e.add(e.mod(month.node, e.i(12)), e.i(1)),
            e.i(1),
        ),
        _days_from_civil(e, year.node, month.node, e.i(1)),
    )
    checks = [
        _within(e, year.node, 1, 9999),
        _within(e, month.node, 1, 12),
        e.and_(e.binary("ge", day.node, e.i(1)), e.binary("le", day.node, last_day)),
        _within(e, parts[0], 0, 23),
        _within(e, parts[1], 0, 59),
        _within(e, parts[2], 0, 59),
    ]
    valid = checks[0]
    for check in checks[1:]:
        valid = e.and_(valid, check)
    invalid = e.not_(valid)
    node = e.unary("to_int", e.where(invalid, e.i(0), utc), DType.TIMESTAMP)
    return Value(node, invalid, True)


def _within(e: Emitter, value: Node, low: int, high: int) -> Node:
    return e.and_(e.binary("ge", value, e.i(low)), e.binary("le", value, e.i(high)))


ZONE = param(
    "zone",
    STR,
    literal=True,
    optional=True,
    default='"UTC"',
    row=False,
    hint='an IANA zone name such as "America/New_York"',
    samples=("UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Lord_Howe"),
)


OPS: tuple[Op, ...] = (
    Op(
        "year",
        "time",
        (param("t", TS), ZONE),
        Returns.INT,
        PROPAGATE,
        lower_year,
        "Calendar year (proleptic Gregorian), in UTC or in the IANA `zone` given.",
        "year(t)",
    ),
    Op(
        "month",
        "time",
        (param("t", TS), ZONE),
        Returns.INT,
        PROPAGATE,
        lower_month,
        "Month, 1-12, in UTC or in `zone`.",
        "month(t)",
    ),
    Op(
        "day",
        "time",
        (param("t", TS), ZONE),
        Returns.INT,
        PROPAGATE,
        lower_day,
        "Day of the month, 1-31, in UTC or in `zone`.",
        "day(t)",
    ),
    Op(
        "hour",
        "time",
        (param("t", TS), ZONE),
        Returns.INT,
        PROPAGATE,
        lower_hour,
        'Hour of the day, 0-23, in UTC or on the wall clock of `zone` (DST included: hour(t, "America/New_York") follows EST and EDT).',
        "hour(t)",
    ),
    Op(
        "minute",
        "time",
        (param("t", TS), ZONE),
        Returns.INT,
        PROPAGATE,
        lower_minute,
        "Minute of the hour, 0-59, in UTC or in `zone` (zones such as Asia/Kolkata are 30 minutes "
        "off the hour).",
        "minute(t)",
    ),
    Op(
        "second",
        "time",
        (param("t", TS), ZONE),
        Returns.INT,
        PROPAGATE,
        lower_second,
        "Second of the minute, 0-59, in UTC or in `zone`.",
        "second(t)",
    ),
    Op(
        "day_of_week",
        "time",
        (param("t", TS), ZONE),
        Returns.INT,
        PROPAGATE,
        lower_day_of_week,
        "Day of the week, Monday = 0 ... Sunday = 6, in UTC or in `zone`.",
        "day_of_week(t)",
    ),
    Op(
        "day_of_year",
        "time",
        (param("t", TS), ZONE),
        Returns.INT,
        PROPAGATE,
        lower_day_of_year,
        "Day of the year, 1-366, in UTC or in `zone`.",
        "day_of_year(t)",
    ),
    Op(
        "days_between",
        "time",
        (param("start", TS), param("end", TS), ZONE),
        Returns.INT,
        PROPAGATE,
        lower_days_between,
        "Without a zone: whole elapsed days from start to end, rounded toward -inf ((end - start) "
        "// 86400000000 microseconds). With a zone: the number of calendar dates from start's "
        "local date to end's local date in that zone (23:00 to 01:00 the next day is 1), which "
        "is what 'days since' means on a wall calendar.",
        "days_between(t2, t)",
    ),
    Op(
        "seconds_between",
        "time",
        (param("start", TS), param("end", TS)),
        Returns.INT,
        PROPAGATE,
        lower_seconds_between,
        "Whole seconds from start to end, rounded toward -inf.",
        "seconds_between(t2, t)",
    ),
    Op(
        "make_timestamp",
        "time",
        (
            param("year", INT_ONLY),
            param("month", INT_ONLY),
            param("day", INT_ONLY),
            param("hour", INT_ONLY, optional=True, default="0"),
            param("minute", INT_ONLY, optional=True, default="0"),
            param("second", INT_ONLY, optional=True, default="0"),
            ZONE,
        ),
        Returns.TIMESTAMP,
        PROPAGATE,
        lower_make_timestamp,
        "The instant at which the wall clock in `zone` shows this date and time (proleptic "
        "Gregorian). A local time that happens twice (a DST fold) gives the earlier instant; one "
        "that does not exist (a DST gap) is read with the offset before the transition, so "
        "2:30 on a spring-forward night in New York is 3:30 EDT: both as Python's zoneinfo with "
        "fold=0. A date or time that does not exist (month 13, 31 February, hour 24, year 0) is "
        "null.",
        'fill_null(days_between(make_timestamp(2024, 3, 10, 12, 0, 0, "America/New_York"), t), 0)',
        makes_nulls=True,
    ),
)
