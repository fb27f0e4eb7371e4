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
    """An age or a delay in words, rounded to two units: 26_100_000_000 -> '7 h 15 min',
    21_599_469_319 -> '6 h' (rounded to the minute), 1_500 -> '1 ms 500 µs'; negative durations
    keep their sign ('-2 min'); NaN is 'unknown'."""
    if micros != micros:  # NaN: no age
        return "unknown"
    sign = "-" if micros < 0 else ""
    rest = abs(micros) if isinstance(micros, int) else abs(round(float(micros)))
    if rest == 0:
        return "0 s"
    sizes = [(UNITS[unit], word) for unit, word in _WORDS]
    first = next(i for i, (size, _) in enumerate(sizes) if rest >= size or i == len(sizes) - 1)
    if first + 1 < len(sizes):
        step = sizes[first + 1][0]
        rest = (rest + step // 2) // step * step  # round half up to the second unit
    first = next(i for i, (size, _) in enumerate(sizes) if rest >= size or i == len(sizes) - 1)
    parts = []
    for size, word in sizes[first : first + 2]:
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count:,} {word}")
    return sign + " ".join(parts)
