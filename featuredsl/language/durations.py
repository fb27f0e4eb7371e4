"""Durations: the units a spec writes (`max_age 6h`) and how a message says an age.

Every duration inside featuredsl is an int64 count of microseconds, like timestamps (int64
microseconds since 1970-01-01T00:00:00Z, UTC). This module is the one place that turns a
written duration into microseconds and microseconds back into words for people.
"""

from __future__ import annotations

UNITS: dict[str, int] = {
    "us": 1,
    "ms": 1_000,
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
}
"""Microseconds per unit, for the duration literals of the language (`90s`, `6h`, `2d`)."""

# Largest unit first; the words a message uses for each.
_WORDS = (("d", "d"), ("h", "h"), ("m", "min"), ("s", "s"), ("ms", "ms"), ("us", "µs"))


def duration_micros(text: str) -> int:
    """`6h` -> 21_600_000_000: an integer and one unit of `UNITS`.

    Raises ValueError for any other text (the grammar only lets such literals through)."""
    digits = text.rstrip("".join(sorted({c for unit in UNITS for c in unit})))
    unit = text[len(digits) :]
    if not digits.isdigit() or unit not in UNITS:
        raise ValueError(f"not a duration: {text!r} (write e.g. 90s, 30m, 6h, 2d)")
    return int(digits) * UNITS[unit]


def human_duration(micros: int | float) -> str:
    """An age or a delay in words, to two units: 26_100_000_000 -> '7 h 15 min'; negative
    durations keep their sign ('-2 min'); sub-microsecond parts are dropped."""
    if micros != micros:  # NaN: no age
        return "unknown"
    sign = "-" if micros < 0 else ""
    rest = abs(int(micros))
    if rest == 0:
        return "0 s"
    parts: list[str] = []
    for unit, word in _WORDS:
        size = UNITS[unit]
        if rest >= size or parts:
            count, rest = divmod(rest, size)
            if count or not parts:
                parts.append(f"{count:,} {word}")
            if len(parts) == 2 or (parts and count == 0):
                break
    return sign + " ".join(parts)
