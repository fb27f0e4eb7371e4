"""Adversarial inputs derived from a fitted spec: every boundary, its ULP neighbours, and the
values runtimes disagree on most often (NaN, +-inf, -0.0, subnormals, .5 ties, odd strings,
timestamps far from 1970). Built from the manifest alone, so any build directory can be checked.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from featuredsl.artifact.contract import mask_name
from featuredsl.compiler.types import DType

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MICROS_PER_DAY = 86_400_000_000

FLOAT_SPECIALS = (
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    -0.5,
    1.5,
    2.5,
    -2.5,
    0.1,
    1e-8,
    -1e-8,
    math.inf,
    -math.inf,
    5e-324,
    -5e-324,
    2.2250738585072014e-308,
    1.7976931348623157e308,
    -1.7976931348623157e308,
    1e300,
    -1e300,
    2.0**53,
    2.0**53 + 2,
    2.0**63,
    -(2.0**63),
    3.4028234663852886e38,
)
INT_SPECIALS = (
    0,
    1,
    -1,
    2,
    -2,
    7,
    -7,
    100,
    INT64_MAX,
    INT64_MIN,
    INT64_MIN + 1,
    2**53 + 1,
    -(2**31),
    # int64 Min/Max of onnxruntime 1.22-1.31 go wrong beyond +-2**31 (docs/parity.md)
    2**31,
    -(2**31) - 1,
    2**32,
    10_000_000_000,
)
STRING_SPECIALS = (
    "",
    " ",
    "  ",
    " padded ",
    "\t",
    "\ttab",
    "line\nbreak",
    "MiXeD CaSe",
    "UPPER",
    "lower",
    "Straße",
    "ÄÖÜ",
    "\u00e9",  # NFC; its decomposed form e + U+0301 is refused at every boundary
    "\u0301",  # a lone combining mark is NFC
    "\u0130stanbul",
    "日本語",
    "emoji \U0001f600",
    "\u00a0nbsp",
    "x" * 5000,
    "__absent__",
    "0",
    "42",
    "-1",
)
# 1970-01-01, just before it, 2000-02-29 (leap day), 1900-03-01 (no leap day in 1900),
# 2038-01-19T03:14:08Z (past int32 seconds), 2021-03-28 UTC midnight (a European DST day),
# 0001-01-01, 9999-12-31T23:59:59.999999, and far int64 values.
TIMESTAMP_SPECIALS = (
    0,
    -1,
    1,
    MICROS_PER_DAY - 1,
    951_782_400_000_000,
    -2_203_891_200_000_000,
    2_147_483_648_000_000,
    1_616_889_600_000_000,
    -62_135_596_800_000_000,
    253_402_300_799_999_999,
    4_102_444_800_000_000,
    -86_400_000_000,
    2**62,
    -(2**62),
)


def float_candidates(pool: Mapping[str, Sequence[Any]]) -> list[float]:
    values: list[float] = list(FLOAT_SPECIALS)
    boundaries = [float(v) for v in [*pool.get("float", []), *pool.get("int", [])]]
    for value in boundaries:
        values.extend(_neighbours(value))
    for digits in pool.get("round_digits", []):
        scale = 10.0 ** max(-308, min(308, int(digits)))  # any manifest's digits: no overflow
        values.extend(v / scale for v in (0.5, 1.5, 2.5, -0.5, -1.5, 12.5))
    return _unique_floats(values)


def _neighbours(value: float) -> list[float]:
    """The value, one ULP either side in float64, and the float32 rounding with its neighbours."""
    out = [value, math.nextafter(value, math.inf), math.nextafter(value, -math.inf)]
    if math.isfinite(value) and abs(value) < 3.4e38:
        single = np.float32(value)
        out += [
            float(single),
            float(np.nextafter(single, np.float32(np.inf))),
            float(np.nextafter(single, np.float32(-np.inf))),
        ]
    return out


def _unique_floats(values: Iterable[float]) -> list[float]:
    seen: dict[str, float] = {}
    for value in values:
        seen.setdefault(float(value).hex(), float(value))
    return list(seen.values())


def int_candidates(pool: Mapping[str, Sequence[Any]]) -> list[int]:
    values = list(INT_SPECIALS)
    for value in [*pool.get("int", []), *pool.get("float", [])]:
        if isinstance(value, float) and not math.isfinite(value):
            continue
        base = math.floor(value)
        values.extend(v for v in (base - 1, base, base + 1) if INT64_MIN <= v <= INT64_MAX)
    return sorted(set(values))


def string_candidates(pool: Mapping[str, Sequence[Any]]) -> list[str]:
    values = list(STRING_SPECIALS)
    for text in pool.get("string", []):
        values += [text, text.upper(), text.lower(), f" {text} ", text + "x", text[:-1], "x" + text]
    return list(dict.fromkeys(v for v in values if "\x00" not in v))


def timestamp_candidates(pool: Mapping[str, Sequence[Any]]) -> list[int]:
    values = list(TIMESTAMP_SPECIALS)
    values += [v for v in pool.get("int", []) if isinstance(v, int) and abs(v) < 2**62]
    return sorted(set(values))


def edge_case_feed(
    inputs: Sequence[Mapping[str, Any]],
    pool: Mapping[str, Sequence[Any]],
    seed: int = 0,
    freshness: Mapping[str, Any] | None = None,
    events: Sequence[Mapping[str, Any]] | None = None,
    windows: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, np.ndarray]:
    """A feed whose rows walk every column through its candidates, with shuffled pairings.

    With window aggregates (the manifest's `events` and `windows`), every row also carries
    events of each source at its windows' edges (`_edge_events`).

    `inputs` are manifest entries: {"name", "dtype", "nullable"}; `freshness` is the manifest's
    freshness declaration (None without one): its as-of inputs also get rows whose age sits at
    max_age and one microsecond either side, zero, negative (future) and the int64 extremes.
    """
    feed = _walk_feed(inputs, pool, seed)
    if freshness is not None:
        feed = _with_age_rows(feed, freshness)
    for source in events or ():
        lengths = [w for w in windows or () if w["source"] == source["name"]]
        if lengths and freshness is not None:
            feed.update(_edge_events(feed[freshness["time"]], source, lengths, pool, seed))
    return feed


def _edge_events(
    times: np.ndarray,
    source: Mapping[str, Any],
    windows: Sequence[Mapping[str, Any]],
    pool: Mapping[str, Sequence[Any]],
    seed: int,
) -> dict[str, np.ndarray]:
    """The request encoding of one event source for rows with prediction times `times`: each
    row's events sit at every window edge (start - 1 us, start twice, start + 1 us, end - 1 us
    twice, end, end + 1 us: docs/windows.md, start in, end out), at the prediction time and long
    before, clamped to int64 and in time order; every 7th row has none. Event values walk the
    edge candidates of their columns (NaN, +-inf, -0.0, extremes, odd strings, nulls)."""
    lag = int(source["lag_us"])
    spans = sorted({int(w["length_us"]) for w in windows})
    columns = [c for c in source["columns"] if c["name"] != source["time"]]
    walk = _walk_feed(columns, pool, seed + 1) if columns else {}
    walked = len(next(iter(walk.values()), ()))
    rows: list[int] = []
    lists: list[list[int]] = []
    for row, now in enumerate(times.tolist()):
        if row % 7 == 3:
            lists.append([])
            continue
        end = now - lag
        edges = [now, end, end + 1, end - 1, end - 1, end - 10**12]
        for span in spans:
            start = end - span
            edges += [start - 1, start, start, start + 1]
        lists.append(sorted(min(max(t, INT64_MIN), INT64_MAX) for t in edges))
    offsets = np.zeros(len(lists) + 1, dtype=np.int64)
    np.cumsum([len(items) for items in lists], out=offsets[1:])
    for row, items in enumerate(lists):
        rows.extend([row] * len(items))
    name = source["name"]
    out = {
        f"{name}.offsets": offsets,
        f"{name}.{source['time']}": np.array([t for items in lists for t in items], dtype=np.int64),
    }
    picks = (np.arange(len(rows)) * 5 + np.array(rows, dtype=np.int64)) % max(walked, 1)
    for column, values in walk.items():
        out[f"{name}.{column}"] = values[picks]
    return out


def age_pairs(max_age: int | None) -> list[tuple[int, int]]:
    """(prediction time, as-of time) pairs, int64 microseconds, for one as-of input: ages of
    max_age - 1, max_age, max_age + 1, 0 and -1 (from the future) at ordinary and extreme
    prediction times, and the two int64 extremes (age 2**64 - 1 and -(2**64 - 1): no
    subtraction of an implementation may overflow into a wrong answer)."""
    budget = 6 * 3_600_000_000 if max_age is None else max_age
    times = [0, 1_700_000_000_000_000, INT64_MAX, INT64_MIN, INT64_MIN + budget]
    if INT64_MIN + budget - 1 >= INT64_MIN:
        times.append(INT64_MIN + budget - 1)
    pairs = [(INT64_MAX, INT64_MIN), (INT64_MIN, INT64_MAX), (INT64_MAX, INT64_MAX)]
    for now in times:
        for age in (budget - 1, budget, budget + 1, 0, -1, 1):
            as_of = now - age
            if INT64_MIN <= as_of <= INT64_MAX:
                pairs.append((now, as_of))
    return list(dict.fromkeys(pairs))


def _with_age_rows(
    feed: dict[str, np.ndarray], freshness: Mapping[str, Any]
) -> dict[str, np.ndarray]:
    """The feed with rows appended per as-of input: its age pairs, its value present."""
    length = len(next(iter(feed.values())))
    blocks = [feed]
    for rule in freshness["inputs"]:
        pairs = age_pairs(rule["max_age_us"])
        base = np.arange(len(pairs)) % length
        block = {name: values[base].copy() for name, values in feed.items()}
        block[freshness["time"]] = np.array([now for now, _ in pairs], dtype=np.int64)
        block[rule["as_of"]] = np.array([as_of for _, as_of in pairs], dtype=np.int64)
        column = rule["column"]
        values = feed[column]
        present = ~feed[mask_name(column)] if mask_name(column) in feed else None
        if present is None and values.dtype.kind == "f":
            present = ~np.isnan(values)
        if present is not None and present.any():
            block[column] = np.full(len(pairs), values[np.argmax(present)], dtype=values.dtype)
            if mask_name(column) in feed:
                block[mask_name(column)] = np.zeros(len(pairs), dtype=bool)
        blocks.append(block)
    return {name: np.concatenate([b[name] for b in blocks]) for name in feed}


def _walk_feed(
    inputs: Sequence[Mapping[str, Any]], pool: Mapping[str, Sequence[Any]], seed: int
) -> dict[str, np.ndarray]:
    candidates = {column["name"]: _candidates(column, pool) for column in inputs}
    rows = max(len(c) for c in candidates.values()) * 2
    rng = np.random.default_rng(seed)
    feed: dict[str, np.ndarray] = {}
    for index, column in enumerate(inputs):
        name, dtype = column["name"], DType(column["dtype"])
        values = candidates[name]
        order = np.concatenate([np.arange(rows) % len(values), rng.integers(0, len(values), rows)])
        order = np.roll(
            order, index * 7
        )  # pair each column's edge with different values of the others
        feed[name] = _array(dtype, [values[i] for i in order])
        if column["nullable"]:
            null = (np.arange(2 * rows) % 5) == (index % 5)
            if dtype is DType.FLOAT:
                feed[name] = np.where(null, np.nan, feed[name])
            else:
                feed[mask_name(name)] = null
                feed[name] = np.where(null, _placeholder(dtype), feed[name]).astype(
                    feed[name].dtype
                )
    return feed


def _candidates(column: Mapping[str, Any], pool: Mapping[str, Sequence[Any]]) -> list[Any]:
    dtype = DType(column["dtype"])
    if dtype is DType.FLOAT:
        values: list[Any] = float_candidates(pool)
        return values + ([math.nan] if column["nullable"] else [])
    if dtype is DType.INT:
        return int_candidates(pool)
    if dtype is DType.STRING:
        return string_candidates(pool)
    if dtype is DType.TIMESTAMP:
        return timestamp_candidates(pool)
    return [True, False]


def _array(dtype: DType, values: list[Any]) -> np.ndarray:
    if dtype is DType.STRING:
        return np.array(values, dtype=object)
    return np.array(
        values, dtype={DType.FLOAT: np.float64, DType.BOOL: np.bool_}.get(dtype, np.int64)
    )


def _placeholder(dtype: DType) -> Any:
    return {DType.INT: 0, DType.TIMESTAMP: 0, DType.BOOL: False, DType.STRING: ""}[dtype]
