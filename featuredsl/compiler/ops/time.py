"""Calendar and duration ops on UTC timestamps (int64 microseconds), in exact integer arithmetic."""

from __future__ import annotations

from featuredsl.compiler.builder import (
    MICROS_PER_DAY,
    MICROS_PER_SECOND,
    Emitter,
    Value,
)
from featuredsl.compiler.ir import Node
from featuredsl.compiler.op import (
    PROPAGATE,
    TS,
    Op,
    Returns,
    param,
)
from featuredsl.compiler.types import DType


def _days(e: Emitter, t: Value) -> Node:
    return e.floordiv(_as_int(e, t), e.i(MICROS_PER_DAY))


def _as_int(e: Emitter, t: Value) -> Node:
    # timestamps are int64 micros; re-type the node so integer primitives apply.
    return e.unary("to_int", t.node, DType.INT) if t.dtype is DType.TIMESTAMP else t.node


def _civil(e: Emitter, t: Value) -> tuple[Node, Node, Node]:
    """(year, month, day) by Howard Hinnant's days-from-civil inverse, in exact int64 arithmetic."""
    z = e.add(_days(e, t), e.i(719_468))
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


def _micros_of_day(e: Emitter, t: Value) -> Node:
    return e.mod(_as_int(e, t), e.i(MICROS_PER_DAY))


def lower_year(e: Emitter, t: Value) -> Value:
    return Value(_civil(e, t)[0])


def lower_month(e: Emitter, t: Value) -> Value:
    return Value(_civil(e, t)[1])


def lower_day(e: Emitter, t: Value) -> Value:
    return Value(_civil(e, t)[2])


def lower_hour(e: Emitter, t: Value) -> Value:
    return Value(e.floordiv(_micros_of_day(e, t), e.i(3_600 * MICROS_PER_SECOND)))


def lower_minute(e: Emitter, t: Value) -> Value:
    minutes = e.floordiv(_micros_of_day(e, t), e.i(60 * MICROS_PER_SECOND))
    return Value(e.mod(minutes, e.i(60)))


def lower_second(e: Emitter, t: Value) -> Value:
    seconds = e.floordiv(_micros_of_day(e, t), e.i(MICROS_PER_SECOND))
    return Value(e.mod(seconds, e.i(60)))


def lower_day_of_week(e: Emitter, t: Value) -> Value:
    # 1970-01-01 was a Thursday (3 when Monday is 0).
    return Value(e.mod(e.add(_days(e, t), e.i(3)), e.i(7)))


def lower_day_of_year(e: Emitter, t: Value) -> Value:
    year = _civil(e, t)[0]
    # days from civil (year, 1, 1): March-based year y - 1, day-of-era-year 306.
    y = e.sub(year, e.i(1))
    era = e.floordiv(y, e.i(400))
    yoe = e.sub(y, e.mul(era, e.i(400)))
    doe = e.add(
        e.sub(e.add(e.mul(yoe, e.i(365)), e.floordiv(yoe, e.i(4))), e.floordiv(yoe, e.i(100))),
        e.i(306),
    )
    jan1 = e.sub(e.add(e.mul(era, e.i(146_097)), doe), e.i(719_468))
    return Value(e.add(e.sub(_days(e, t), jan1), e.i(1)))


def lower_days_between(e: Emitter, start: Value, end: Value) -> Value:
    return Value(e.floordiv(e.sub(_as_int(e, end), _as_int(e, start)), e.i(MICROS_PER_DAY)))


def lower_seconds_between(e: Emitter, start: Value, end: Value) -> Value:
    return Value(e.floordiv(e.sub(_as_int(e, end), _as_int(e, start)), e.i(MICROS_PER_SECOND)))


OPS: tuple[Op, ...] = (
    Op(
        "year",
        "time",
        (param("t", TS),),
        Returns.INT,
        PROPAGATE,
        lower_year,
        "Calendar year (proleptic Gregorian, UTC).",
        "year(t)",
    ),
    Op(
        "month",
        "time",
        (param("t", TS),),
        Returns.INT,
        PROPAGATE,
        lower_month,
        "Month, 1-12.",
        "month(t)",
    ),
    Op(
        "day",
        "time",
        (param("t", TS),),
        Returns.INT,
        PROPAGATE,
        lower_day,
        "Day of the month, 1-31.",
        "day(t)",
    ),
    Op(
        "hour",
        "time",
        (param("t", TS),),
        Returns.INT,
        PROPAGATE,
        lower_hour,
        "Hour of the day, 0-23.",
        "hour(t)",
    ),
    Op(
        "minute",
        "time",
        (param("t", TS),),
        Returns.INT,
        PROPAGATE,
        lower_minute,
        "Minute of the hour, 0-59.",
        "minute(t)",
    ),
    Op(
        "second",
        "time",
        (param("t", TS),),
        Returns.INT,
        PROPAGATE,
        lower_second,
        "Second of the minute, 0-59.",
        "second(t)",
    ),
    Op(
        "day_of_week",
        "time",
        (param("t", TS),),
        Returns.INT,
        PROPAGATE,
        lower_day_of_week,
        "Day of the week, Monday = 0 ... Sunday = 6.",
        "day_of_week(t)",
    ),
    Op(
        "day_of_year",
        "time",
        (param("t", TS),),
        Returns.INT,
        PROPAGATE,
        lower_day_of_year,
        "Day of the year, 1-366.",
        "day_of_year(t)",
    ),
    Op(
        "days_between",
        "time",
        (param("start", TS), param("end", TS)),
        Returns.INT,
        PROPAGATE,
        lower_days_between,
        "Whole days from start to end, rounded toward -inf: (end - start) // 86400000000 microseconds.",
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
)
