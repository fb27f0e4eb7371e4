"""Fitted statistics as mergeable accumulators (the shape of Beam's CombineFn).

Every analyzer has `create_accumulator()`, `add_input(acc, values, null_mask) -> acc`,
`merge_accumulators(accs) -> acc` and `extract_output(acc) -> result`, plus `to_json(acc)` /
`from_json(data)` so that a distributed engine can ship accumulators between workers as plain
JSON (no pickle). `make_analyzer(name, params)` builds one from the IR's `fitted` node.

Inputs: a 1-D array of float64 (NaN is null), int64 (also timestamps, as epoch microseconds),
bool, or str (object or StringDType); `null_mask` True marks a null. Nulls are skipped.
-0.0 is counted as 0.0 by every analyzer (so results never depend on which zero came first).

Results are exact and deterministic: they do not depend on how the data is split into
`add_input` calls or in which order accumulators are merged, bit for bit. Semantics:

- mean: the exact sum of the values divided by their count, rounded once to float64.
  Accumulator: the exact sum as an integer multiple of 2**-1074 (every finite float64 is one).
- var: population variance (ddof=0), (n*sum(x*x) - sum(x)**2) / n**2 computed exactly, rounded
  once. std: the correctly rounded square root of that exact variance (integer square root with
  a round-to-odd sticky bit, then one rounding). Accumulator: exact sums of x and x*x.
  With +inf and -inf present the mean is NaN, with only one of them it is that infinity; any
  infinity makes var and std NaN (what IEEE arithmetic on the textbook formula gives).
  Integer inputs are converted to float64 first, as the IR's to_float does.
- min / max: smallest / largest value, of the input's own type (int stays int).
- quantile(q): numpy's default 'linear' method (Hyndman-Fan 7), bit-identical to
  np.quantile(values, q) including its arithmetic with infinities. Accumulator: RankAcc, the
  distinct values with their counts up to DISTINCT_CAP of them, beyond that a histogram of the
  values' bit patterns that brackets the ranks needed for a further pass (extract_output then
  returns NextPass; the fitting loop runs it). Exact either way, in bounded memory. median = quantile(0.5). quantiles(n): the sorted distinct values of
  quantile(i / n) for i = 1..n-1, as a tuple of floats.
- mode: the most frequent value; ties go to the smallest (code-point order for str).
- count: the number of non-null values.
- vocab(top, min_count): values seen at least min_count times, by count descending then value
  ascending (numeric for ints, code-point order for str), cut to the first `top` (all if 0).
  The result may be empty when min_count filters out every value.
- scale_std: std; scale_range: max - min as float64; scale_iqr: quantile(0.75) -
  quantile(0.25); scale_maxabs: max(|x|). Each is replaced by 1.0 when it is 0 or not finite,
  so that scaling never divides by zero.

An analyzer that saw no non-null value raises EmptyAnalyzerError from extract_output.
"""

from __future__ import annotations

import base64
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from featuredsl.errors import FeatureDSLError

# ----------------------------------------------------------------------------- errors


class EmptyAnalyzerError(FeatureDSLError):
    """The analyzer saw no non-null value: there is nothing to fit."""

    def __init__(self, analyzer: str) -> None:
        super().__init__(f"{analyzer} saw no non-null training values")
        self.analyzer = analyzer


# ----------------------------------------------------------------------------- inputs


def _present(values: Any, null_mask: Any) -> np.ndarray:
    """The non-null values: nulls and float NaN dropped, -0.0 made 0.0, str as object."""
    v = np.asarray(values)
    if v.ndim != 1:
        raise ValueError(f"analyzer input must be 1-D, got shape {v.shape}")
    if null_mask is not None:
        mask = np.asarray(null_mask, dtype=bool)
        if mask.shape != v.shape:
            raise ValueError(f"null_mask shape {mask.shape} does not match values {v.shape}")
        v = v[~mask]
    kind = v.dtype.kind
    if kind == "f":
        v = v.astype(np.float64, copy=False)
        return v[~np.isnan(v)] + 0.0  # + 0.0 turns -0.0 into 0.0 and copies
    if kind in "iu":
        return v.astype(np.int64)
    if kind == "b":
        return v.astype(bool)
    if kind in "OUT":
        return v.astype(object)
    raise TypeError(f"analyzers take float, int, bool or str values, not {v.dtype}")


def _as_float(v: np.ndarray) -> np.ndarray:
    """Numeric present values as float64 (those from _present are already NaN-free, no -0.0)."""
    if v.dtype == np.float64:
        return v
    if v.dtype.kind == "O":
        raise TypeError("this analyzer needs numeric values, not strings")
    return v.astype(np.float64)


def _kind(v: np.ndarray) -> str:
    return {"f": "float", "i": "int", "b": "bool", "O": "str"}[v.dtype.kind]


def _same_kind(kinds: Iterable[str | None]) -> str | None:
    found = {k for k in kinds if k is not None}
    if len(found) > 1:
        raise TypeError(f"cannot merge accumulators of different value kinds: {sorted(found)}")
    return found.pop() if found else None


def _or_one(scale: float) -> float:
    """A scale for division: 1.0 replaces 0 and non-finite values."""
    return scale if math.isfinite(scale) and scale != 0 else 1.0


# ----------------------------------------------------------------------------- exact sums

_SCALE_BITS = 1074  # every finite float64 is an integer multiple of 2**-1074
_CHUNK = 1 << 24  # per-chunk int64 limb sums stay below 2**61
_GROUPS = 2048  # float64 exponent field values


@dataclass(frozen=True)
class SumsAcc:
    """Exact sums of the finite values: s1 = sum(x) * 2**1074, s2 = sum(x*x) * 2**2148."""

    n: int = 0  # finite values
    s1: int = 0
    s2: int = 0
    pos_inf: int = 0
    neg_inf: int = 0

    @property
    def total(self) -> int:
        return self.n + self.pos_inf + self.neg_inf


def _group_sum(group: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.zeros(_GROUPS, dtype=np.int64)
    np.add.at(out, group, values)
    return out


def _exact_chunk(x: np.ndarray, squares: bool) -> tuple[int, int]:
    """Exact sums of a chunk of finite floats, vectorised: split each value into its integer
    mantissa and exponent, sum the mantissas per exponent in int64 limbs, then combine the (at
    most 2047) group sums with Python integers."""
    bits = x.view(np.int64)
    field = (bits >> 52) & 0x7FF
    mant = bits & ((1 << 52) - 1)
    mant = np.where(field > 0, mant | (1 << 52), mant)
    group = np.maximum(field, 1)  # |x| = mant * 2**(group - 1075), subnormals included
    signed = np.where(bits < 0, -mant, mant)
    hi = _group_sum(group, signed >> 26)  # arithmetic shift: signed == hi * 2**26 + lo
    lo = _group_sum(group, signed & ((1 << 26) - 1))
    present = np.flatnonzero(np.bincount(group, minlength=_GROUPS)).tolist()
    s1 = sum(((int(hi[g]) << 26) + int(lo[g])) << (g - 1) for g in present)
    if not squares:
        return s1, 0
    # mant = a * 2**36 + b * 2**18 + c with 17/18/18-bit limbs; mant**2 from limb products
    # (the cross terms' factor 2 is one more bit of shift).
    a, b, c = mant >> 36, (mant >> 18) & 0x3FFFF, mant & 0x3FFFF
    terms = [(a * a, 72), (a * b, 55), (a * c, 37), (b * b, 36), (b * c, 19), (c * c, 0)]
    sums = [(_group_sum(group, t), shift) for t, shift in terms]
    s2 = 0
    for g in present:
        square = sum(int(total[g]) << shift for total, shift in sums)
        s2 += square << (2 * (g - 1))
    return s1, s2


def _sums_of(values: np.ndarray, squares: bool) -> SumsAcc:
    x = _as_float(values)
    finite = np.isfinite(x)
    pos_inf = int(np.count_nonzero(x == np.inf))
    neg_inf = int(np.count_nonzero(x == -np.inf))
    x = x[finite]
    s1 = s2 = 0
    for start in range(0, len(x), _CHUNK):
        p1, p2 = _exact_chunk(x[start : start + _CHUNK], squares)
        s1, s2 = s1 + p1, s2 + p2
    return SumsAcc(len(x), s1, s2, pos_inf, neg_inf)


def _ratio(num: int, den: int) -> float:
    """num / den correctly rounded (CPython's int true division is); overflow -> +-inf."""
    try:
        return num / den
    except OverflowError:
        return math.inf if (num < 0) == (den < 0) else -math.inf


def _sqrt_ratio(num: int, den: int) -> float:
    """The correctly rounded sqrt(num / den) for num >= 0, den > 0."""
    if num == 0:
        return 0.0
    # Scale so that the integer root has >= 60 bits: then a sticky (round-to-odd) last bit
    # makes the single final rounding to 53 bits correct.
    shift = max(0, 120 - (num.bit_length() - den.bit_length()))
    shift += shift & 1
    scaled = (num << shift) // den
    root = math.isqrt(scaled)  # == floor(sqrt(num * 2**shift / den))
    if root * root * den != num << shift:
        root |= 1
    return _ratio(root, 1 << (shift // 2))


def _mean(acc: SumsAcc) -> float:
    if acc.pos_inf and acc.neg_inf:
        return math.nan
    if acc.pos_inf or acc.neg_inf:
        return math.inf if acc.pos_inf else -math.inf
    return _ratio(acc.s1, acc.n << _SCALE_BITS)


def _var_parts(acc: SumsAcc) -> tuple[int, int] | None:
    """The exact variance as num / den, or None when an infinity makes it NaN."""
    if acc.pos_inf or acc.neg_inf:
        return None
    return acc.n * acc.s2 - acc.s1 * acc.s1, (acc.n * acc.n) << (2 * _SCALE_BITS)


def _std(acc: SumsAcc) -> float:
    parts = _var_parts(acc)
    return math.nan if parts is None else _sqrt_ratio(*parts)


# ----------------------------------------------------------------------------- value counts


@dataclass(frozen=True, eq=False)
class CountsAcc:
    """Distinct values (sorted ascending; code-point order for str) and how often each occurs."""

    kind: str | None = None  # "float" | "int" | "bool" | "str"; None while empty
    keys: np.ndarray = field(default_factory=lambda: np.empty(0))
    counts: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


def _counts_of(v: np.ndarray) -> CountsAcc:
    if not len(v):
        return CountsAcc()
    if v.dtype.kind == "O":
        return _str_counts(Counter(v.tolist()))
    keys, counts = np.unique(v, return_counts=True)
    return CountsAcc(_kind(v), keys, counts.astype(np.int64))


def _str_counts(counter: Counter[Any]) -> CountsAcc:
    keys = sorted(counter)  # Python str order is code-point order
    for key in keys[:1] + keys[-1:]:
        if not isinstance(key, str):
            raise TypeError(f"string analyzer input holds a {type(key).__name__}")
    counts = np.fromiter((counter[k] for k in keys), dtype=np.int64, count=len(keys))
    return CountsAcc("str", np.array(keys, dtype=object), counts)


def _merge_counts(accs: Iterable[CountsAcc]) -> CountsAcc:
    parts = [a for a in accs if a.kind is not None]
    kind = _same_kind(a.kind for a in parts)
    if kind is None:
        return CountsAcc()
    if len(parts) == 1:
        return parts[0]
    if kind == "str":
        counter: Counter[Any] = Counter()
        for acc in parts:
            counter.update(dict(zip(acc.keys.tolist(), acc.counts.tolist(), strict=True)))
        return _str_counts(counter)
    keys, inverse = np.unique(np.concatenate([a.keys for a in parts]), return_inverse=True)
    counts = np.zeros(len(keys), dtype=np.int64)
    np.add.at(counts, inverse, np.concatenate([a.counts for a in parts]))
    return CountsAcc(kind, keys, counts)


def _quantile_ranks(n: int, q: float) -> tuple[int, int, float]:
    """The two sorted positions (0-based) and the weight np.quantile's 'linear' method reads
    for level q of n values: numpy's _get_indexes in its order (virtual index (n-1)*q; both
    neighbours become the last value at or beyond n-1; gamma is the virtual index minus the
    possibly replaced lower index)."""
    virtual = float(n - 1) * q
    below = math.floor(virtual)
    lower, upper = (-1, -1) if virtual >= n - 1 else (below, below + 1)
    gamma = virtual - lower
    return lower % n, upper % n, gamma


def _lerp(a: float, b: float, gamma: float) -> float:
    """numpy's _lerp: the form switches at gamma 0.5."""
    diff = b - a
    return b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma


# ----------------------------------------------------------------------------- ranks

DISTINCT_CAP = 1 << 20
"""A quantile-type accumulator keeps at most this many distinct values (16 MiB). Beyond it,
the values are dropped and the histogram of their bit patterns brackets the ranks needed; a
further pass over the data keeps only the values in the bracketing buckets (see RankAcc)."""

RADIX_SHIFTS = (44, 24, 4, 0)
"""Bucket widths of the successive passes, as right shifts of the order-preserving 64-bit key:
2^20 buckets first, then 2^20 sub-buckets of a selected bucket, then 2^20, then single values."""


def ordered_keys(values: np.ndarray) -> np.ndarray:
    """uint64 keys in the order of the float64 values (no NaN; -0.0 already made 0.0)."""
    bits = values.view(np.int64)
    unsigned = values.view(np.uint64)
    return np.where(bits < 0, ~unsigned, unsigned | np.uint64(1 << 63))


@dataclass(frozen=True)
class Bracket:
    """The plan of a refinement pass: keep the values whose key >> shift is one of `prefixes`
    (sorted uint64); below[i] values of the whole data lie before prefix i; n values in all."""

    shift: int
    prefixes: np.ndarray
    below: np.ndarray
    n: int


@dataclass(frozen=True)
class NextPass:
    """extract_output's answer when it needs another pass over the data with this plan."""

    plan: Bracket


@dataclass(frozen=True)
class RankAcc:
    """Exact order statistics in bounded memory. Pass 1 (plan None) counts every value, keeps
    the distinct values with their counts while there are at most DISTINCT_CAP of them, and
    counts the values per bucket of their key's top 20 bits. If the distinct values fit, the
    quantiles come from them (one pass). If not, the histogram says which buckets hold the ranks
    the quantiles need; the next pass (plan: those buckets) keeps only their values, with a
    histogram of the next 20 bits, and so on; the last level is single values, so at most 4
    extra passes, each with memory bounded by DISTINCT_CAP plus the histograms. The result is
    the same number either way: the values at those ranks, exactly."""

    plan: Bracket | None = None
    n: int = 0
    values: CountsAcc | None = field(default_factory=CountsAcc)  # None: over DISTINCT_CAP
    hist_keys: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.uint64))
    hist_counts: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


def _next_shift(plan: Bracket | None) -> int | None:
    if plan is None:
        return RADIX_SHIFTS[0]
    later = [s for s in RADIX_SHIFTS if s < plan.shift]
    return later[0] if later else None


def _cap(plan: Bracket | None) -> int:
    """Distinct values kept: DISTINCT_CAP, and all at the last level (single values: at most
    one per rank needed)."""
    return DISTINCT_CAP if plan is None or plan.shift else len(plan.prefixes)


def _rank_part(plan: Bracket | None, v: np.ndarray) -> RankAcc:
    """The accumulator of one batch of present float64 values under `plan`."""
    keys = ordered_keys(v)
    if plan is not None:
        keep = np.isin(keys >> np.uint64(plan.shift), plan.prefixes)
        v, keys = v[keep], keys[keep]
    shift = _next_shift(plan)
    hist_keys, hist_counts = np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
    if shift is not None and len(keys):
        hist_keys, counts = np.unique(keys >> np.uint64(shift), return_counts=True)
        hist_counts = counts.astype(np.int64)
    values: CountsAcc | None = _counts_of(v)
    if values is not None and len(values.keys) > _cap(plan):
        values = None
    return RankAcc(plan, len(v), values, hist_keys, hist_counts)


def _merge_ranks(accs: Iterable[RankAcc]) -> RankAcc:
    parts = list(accs)
    if len(parts) == 1:
        return parts[0]
    values: CountsAcc | None = None
    if all(a.values is not None for a in parts):
        values = _merge_counts(a.values for a in parts if a.values is not None)
        if len(values.keys) > _cap(parts[0].plan):
            values = None
    hist_keys, inverse = np.unique(
        np.concatenate([a.hist_keys for a in parts]), return_inverse=True
    )
    hist_counts = np.zeros(len(hist_keys), dtype=np.int64)
    np.add.at(hist_counts, inverse, np.concatenate([a.hist_counts for a in parts]))
    return RankAcc(parts[0].plan, sum(a.n for a in parts), values, hist_keys, hist_counts)


def _rank_total(acc: RankAcc) -> int:
    return acc.plan.n if acc.plan is not None else acc.n


def _needed_ranks(n: int, levels: Iterable[float]) -> np.ndarray:
    ranks: set[int] = set()
    for q in levels:
        lower, upper, _ = _quantile_ranks(n, q)
        ranks.update((lower, upper))
    return np.array(sorted(ranks), dtype=np.int64)


def _starts(acc: RankAcc, keys: np.ndarray, counts: np.ndarray, shift: int) -> np.ndarray:
    """The rank (in the whole data) of the first value of each group of sorted kept values:
    `keys` are their order-preserving keys at `shift` (full keys when shift is 0)."""
    plan = acc.plan
    if plan is None:
        return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    parent = keys >> np.uint64(plan.shift - shift)
    index = np.searchsorted(plan.prefixes, parent)
    cum = np.cumsum(counts) - counts  # kept values before each group
    first_of_parent = np.searchsorted(parent, parent, side="left")
    return plan.below[index] + cum - cum[first_of_parent]


def _rank_values(acc: RankAcc, levels: list[float]) -> list[float] | NextPass:
    """The quantile levels' values, or the plan of the pass that brackets them."""
    n = _rank_total(acc)
    if acc.values is not None:
        values = acc.values
        starts = _starts(acc, ordered_keys(values.keys.astype(np.float64)), values.counts, 0)
        ends = starts + values.counts

        def value_at(rank: int) -> float:
            return float(values.keys[np.searchsorted(ends, rank, side="right")])

        out = []
        for q in levels:
            lower, upper, gamma = _quantile_ranks(n, q)
            out.append(_lerp(value_at(lower), value_at(upper), gamma))
        return out
    shift = _next_shift(acc.plan)
    if shift is None:  # pragma: no cover - single values cannot exceed the cap
        raise RuntimeError("rank refinement ran out of levels")
    starts = _starts(acc, acc.hist_keys, acc.hist_counts, shift)
    ends = starts + acc.hist_counts
    chosen = np.unique(np.searchsorted(ends, _needed_ranks(n, levels), side="right"))
    return NextPass(Bracket(shift, acc.hist_keys[chosen], starts[chosen], n))


# ----------------------------------------------------------------------------- extremes


@dataclass(frozen=True)
class ExtremesAcc:
    kind: str | None = None
    lo: Any = None
    hi: Any = None


def _extremes_of(v: np.ndarray) -> ExtremesAcc:
    if not len(v):
        return ExtremesAcc()
    if v.dtype.kind == "O":
        items = v.tolist()
        return ExtremesAcc("str", min(items), max(items))
    return ExtremesAcc(_kind(v), v.min().item(), v.max().item())


def _merge_extremes(accs: Iterable[ExtremesAcc]) -> ExtremesAcc:
    parts = [a for a in accs if a.kind is not None]
    kind = _same_kind(a.kind for a in parts)
    if kind is None:
        return ExtremesAcc()
    return ExtremesAcc(kind, min(a.lo for a in parts), max(a.hi for a in parts))


@dataclass(frozen=True)
class TallyAcc:
    n: int = 0


# ----------------------------------------------------------------------------- JSON


def _encode(kind: str, value: Any) -> Any:
    """Exact JSON for a scalar: floats as float.hex (keeps inf and every bit), ints as decimal
    strings (exact beyond 2**53 in any JSON reader), bools and str as themselves."""
    if kind == "float":
        return float(value).hex()
    if kind == "int":
        return str(int(value))
    return value


def _decode(kind: str, value: Any) -> Any:
    if kind == "float":
        return float.fromhex(value)
    if kind == "int":
        return int(value)
    if kind == "bool":
        return bool(value)
    return str(value)


_KEY_DTYPES = {"float": np.float64, "int": np.int64, "bool": bool, "str": object}
_PACKED = {"float": "<f8", "int": "<i8"}


def _pack(values: np.ndarray, dtype: str) -> str:
    """An array as base64 of its little-endian bytes (every bit kept; NaN and inf too)."""
    return base64.b64encode(np.ascontiguousarray(values, dtype=dtype).tobytes()).decode("ascii")


def _unpack(text: str, dtype: str) -> np.ndarray:
    native = np.dtype(dtype).newbyteorder("=")
    return np.frombuffer(base64.b64decode(text), dtype=dtype).astype(native)


def to_json(acc: Any) -> dict[str, Any]:
    """A JSON-compatible dict for any accumulator (see from_json)."""
    if isinstance(acc, SumsAcc):
        return {
            "type": "sums",
            "n": acc.n,
            "s1": hex(acc.s1),
            "s2": hex(acc.s2),
            "pos_inf": acc.pos_inf,
            "neg_inf": acc.neg_inf,
        }
    if isinstance(acc, CountsAcc):
        kind = acc.kind
        if kind in _PACKED:  # numbers as little-endian bytes in base64: exact, and compact
            return {
                "type": "counts",
                "kind": kind,
                "keys_le64": _pack(acc.keys, _PACKED[kind]),
                "counts_le64": _pack(acc.counts, "<i8"),
            }
        keys = [] if kind is None else [_encode(kind, k) for k in acc.keys.tolist()]
        return {"type": "counts", "kind": kind, "keys": keys, "counts": acc.counts.tolist()}
    if isinstance(acc, ExtremesAcc):
        if acc.kind is None:
            return {"type": "extremes", "kind": None}
        lo, hi = _encode(acc.kind, acc.lo), _encode(acc.kind, acc.hi)
        return {"type": "extremes", "kind": acc.kind, "min": lo, "max": hi}
    if isinstance(acc, TallyAcc):
        return {"type": "tally", "n": acc.n}
    if isinstance(acc, RankAcc):
        return {
            "type": "ranks",
            "plan": None if acc.plan is None else plan_to_json(acc.plan),
            "n": acc.n,
            "values": None if acc.values is None else to_json(acc.values),
            "hist_keys_le64": _pack(acc.hist_keys, "<u8"),
            "hist_counts_le64": _pack(acc.hist_counts, "<i8"),
        }
    raise TypeError(f"not an accumulator: {type(acc).__name__}")


def plan_to_json(plan: Bracket) -> dict[str, Any]:
    """A refinement plan as JSON (uint64 keys as decimal strings)."""
    return {
        "shift": plan.shift,
        "prefixes": [str(p) for p in plan.prefixes.tolist()],
        "below": plan.below.tolist(),
        "n": plan.n,
    }


def plan_from_json(data: dict[str, Any]) -> Bracket:
    """The plan plan_to_json encoded."""
    return Bracket(
        int(data["shift"]),
        np.array([int(p) for p in data["prefixes"]], dtype=np.uint64),
        np.array(data["below"], dtype=np.int64),
        int(data["n"]),
    )


def from_json(data: dict[str, Any]) -> Any:
    """The accumulator to_json encoded."""
    kind = data.get("kind")
    if data["type"] == "sums":
        return SumsAcc(
            int(data["n"]),
            int(data["s1"], 16),
            int(data["s2"], 16),
            int(data["pos_inf"]),
            int(data["neg_inf"]),
        )
    if data["type"] == "counts":
        if kind is None:
            return CountsAcc()
        if "keys_le64" in data:
            return CountsAcc(
                kind,
                _unpack(data["keys_le64"], _PACKED[kind]),
                _unpack(data["counts_le64"], "<i8"),
            )
        keys = [_decode(kind, k) for k in data["keys"]]
        return CountsAcc(
            kind,
            np.array(keys, dtype=_KEY_DTYPES[kind]),
            np.array(data["counts"], dtype=np.int64),
        )
    if data["type"] == "extremes":
        if kind is None:
            return ExtremesAcc()
        return ExtremesAcc(kind, _decode(kind, data["min"]), _decode(kind, data["max"]))
    if data["type"] == "tally":
        return TallyAcc(int(data["n"]))
    if data["type"] == "ranks":
        return RankAcc(
            None if data["plan"] is None else plan_from_json(data["plan"]),
            int(data["n"]),
            None if data["values"] is None else from_json(data["values"]),
            _unpack(data["hist_keys_le64"], "<u8"),
            _unpack(data["hist_counts_le64"], "<i8"),
        )
    raise ValueError(f"unknown accumulator type {data.get('type')!r}")


# ----------------------------------------------------------------------------- analyzers


class Analyzer:
    """The CombineFn-style interface every analyzer implements."""

    name: ClassVar[str]

    def create_accumulator(self) -> Any:
        raise NotImplementedError

    def refined_accumulator(self, plan: Any) -> Any:
        """The empty accumulator of a further pass (after extract_output gave NextPass)."""
        raise NotImplementedError(f"{self.name} needs one pass")

    def add_input(self, acc: Any, values: Any, null_mask: Any = None) -> Any:
        raise NotImplementedError

    def merge_accumulators(self, accs: Iterable[Any]) -> Any:
        raise NotImplementedError

    def extract_output(self, acc: Any) -> Any:
        raise NotImplementedError

    def to_json(self, acc: Any) -> dict[str, Any]:
        return to_json(acc)

    def from_json(self, data: dict[str, Any]) -> Any:
        return from_json(data)

    def _empty(self) -> EmptyAnalyzerError:
        return EmptyAnalyzerError(self.name)


class _SumsAnalyzer(Analyzer):
    squares: ClassVar[bool] = True

    def create_accumulator(self) -> SumsAcc:
        return SumsAcc()

    def add_input(self, acc: SumsAcc, values: Any, null_mask: Any = None) -> SumsAcc:
        return self.merge_accumulators([acc, _sums_of(_present(values, null_mask), self.squares)])

    def merge_accumulators(self, accs: Iterable[SumsAcc]) -> SumsAcc:
        parts = list(accs)
        return SumsAcc(
            sum(a.n for a in parts),
            sum(a.s1 for a in parts),
            sum(a.s2 for a in parts),
            sum(a.pos_inf for a in parts),
            sum(a.neg_inf for a in parts),
        )

    def _checked(self, acc: SumsAcc) -> SumsAcc:
        if acc.total == 0:
            raise self._empty()
        return acc


class Mean(_SumsAnalyzer):
    name = "mean"
    squares = False

    def extract_output(self, acc: SumsAcc) -> float:
        return _mean(self._checked(acc))


class Var(_SumsAnalyzer):
    name = "var"

    def extract_output(self, acc: SumsAcc) -> float:
        parts = _var_parts(self._checked(acc))
        return math.nan if parts is None else _ratio(*parts)


class Std(_SumsAnalyzer):
    name = "std"

    def extract_output(self, acc: SumsAcc) -> float:
        return _std(self._checked(acc))


class ScaleStd(_SumsAnalyzer):
    name = "scale_std"

    def extract_output(self, acc: SumsAcc) -> float:
        return _or_one(_std(self._checked(acc)))


class _CountsAnalyzer(Analyzer):
    numeric: ClassVar[bool] = True  # quantile-type analyzers work on float64 values

    def create_accumulator(self) -> CountsAcc:
        return CountsAcc()

    def add_input(self, acc: CountsAcc, values: Any, null_mask: Any = None) -> CountsAcc:
        v = _present(values, null_mask)
        if self.numeric:
            v = _as_float(v)
        return _merge_counts([acc, _counts_of(v)])

    def merge_accumulators(self, accs: Iterable[CountsAcc]) -> CountsAcc:
        return _merge_counts(accs)

    def _checked(self, acc: CountsAcc) -> CountsAcc:
        if acc.kind is None:
            raise self._empty()
        return acc


class _RankAnalyzer(Analyzer):
    """Quantile-type analyzers: exact order statistics in bounded memory (RankAcc). extract_output
    gives the result, or NextPass when the data has more than DISTINCT_CAP distinct values and
    another pass must bracket the ranks (the fitting loop runs it)."""

    def levels(self) -> list[float]:
        raise NotImplementedError

    def finish(self, values: list[float]) -> Any:
        raise NotImplementedError

    def create_accumulator(self) -> RankAcc:
        return RankAcc()

    def refined_accumulator(self, plan: Bracket) -> RankAcc:
        return RankAcc(plan)

    def add_input(self, acc: RankAcc, values: Any, null_mask: Any = None) -> RankAcc:
        part = _rank_part(acc.plan, _as_float(_present(values, null_mask)))
        return _merge_ranks([acc, part])

    def merge_accumulators(self, accs: Iterable[RankAcc]) -> RankAcc:
        return _merge_ranks(accs)

    def extract_output(self, acc: RankAcc) -> Any:
        if _rank_total(acc) == 0:
            raise self._empty()
        values = _rank_values(acc, self.levels())
        return values if isinstance(values, NextPass) else self.finish(values)


class Quantile(_RankAnalyzer):
    name = "quantile"

    def __init__(self, q: float) -> None:
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile level must be in [0, 1], got {q!r}")
        self.q = q

    def levels(self) -> list[float]:
        return [self.q]

    def finish(self, values: list[float]) -> float:
        return values[0]


class Median(_RankAnalyzer):
    name = "median"

    def levels(self) -> list[float]:
        return [0.5]

    def finish(self, values: list[float]) -> float:
        return values[0]


class Quantiles(_RankAnalyzer):
    name = "quantiles"

    def __init__(self, n: int) -> None:
        if n < 2:
            raise ValueError(f"quantiles needs n >= 2, got {n!r}")
        self.n = n

    def levels(self) -> list[float]:
        return [i / self.n for i in range(1, self.n)]

    def finish(self, values: list[float]) -> tuple[float, ...]:
        return tuple(np.unique(np.array(values, dtype=np.float64)).tolist())


class ScaleIqr(_RankAnalyzer):
    name = "scale_iqr"

    def levels(self) -> list[float]:
        return [0.25, 0.75]

    def finish(self, values: list[float]) -> float:
        return _or_one(values[1] - values[0])


class Mode(_CountsAnalyzer):
    name = "mode"
    numeric = False

    def extract_output(self, acc: CountsAcc) -> Any:
        acc = self._checked(acc)
        # keys are sorted ascending, and argmax takes the first maximum: ties -> smallest value
        key = acc.keys[int(np.argmax(acc.counts))]
        return key if acc.kind == "str" else key.item()


class Vocab(_CountsAnalyzer):
    name = "vocab"
    numeric = False

    def __init__(self, top: int = 0, min_count: int = 1) -> None:
        if top < 0 or min_count < 1:
            raise ValueError(f"vocab needs top >= 0 and min_count >= 1, got {top}, {min_count}")
        self.top = top
        self.min_count = min_count

    def extract_output(self, acc: CountsAcc) -> tuple[Any, ...]:
        return self.extract_with_counts(acc)[0]

    def extract_with_counts(self, acc: CountsAcc) -> tuple[tuple[Any, ...], tuple[int, ...]]:
        """The vocabulary and the training count of each of its values (same order)."""
        acc = self._checked(acc)
        keep = acc.counts >= self.min_count
        keys, counts = acc.keys[keep], acc.counts[keep]
        order = np.argsort(-counts, kind="stable")  # keys are ascending: ties stay by value
        if self.top:
            order = order[: self.top]
        return tuple(keys[order].tolist()), tuple(counts[order].tolist())


class _ExtremesAnalyzer(Analyzer):
    def create_accumulator(self) -> ExtremesAcc:
        return ExtremesAcc()

    def add_input(self, acc: ExtremesAcc, values: Any, null_mask: Any = None) -> ExtremesAcc:
        return _merge_extremes([acc, _extremes_of(_present(values, null_mask))])

    def merge_accumulators(self, accs: Iterable[ExtremesAcc]) -> ExtremesAcc:
        return _merge_extremes(accs)

    def _checked(self, acc: ExtremesAcc) -> ExtremesAcc:
        if acc.kind is None:
            raise self._empty()
        return acc


class Min(_ExtremesAnalyzer):
    name = "min"

    def extract_output(self, acc: ExtremesAcc) -> Any:
        return self._checked(acc).lo


class Max(_ExtremesAnalyzer):
    name = "max"

    def extract_output(self, acc: ExtremesAcc) -> Any:
        return self._checked(acc).hi


class ScaleRange(_ExtremesAnalyzer):
    name = "scale_range"

    def extract_output(self, acc: ExtremesAcc) -> float:
        acc = self._checked(acc)
        if acc.kind == "float":
            return _or_one(acc.hi - acc.lo)
        return _or_one(float(int(acc.hi) - int(acc.lo)))  # exact integer difference, one rounding


class ScaleMaxabs(_ExtremesAnalyzer):
    name = "scale_maxabs"

    def extract_output(self, acc: ExtremesAcc) -> float:
        acc = self._checked(acc)
        return _or_one(float(max(abs(acc.lo), abs(acc.hi))))


class Count(Analyzer):
    name = "count"

    def create_accumulator(self) -> TallyAcc:
        return TallyAcc()

    def add_input(self, acc: TallyAcc, values: Any, null_mask: Any = None) -> TallyAcc:
        return TallyAcc(acc.n + len(_present(values, null_mask)))

    def merge_accumulators(self, accs: Iterable[TallyAcc]) -> TallyAcc:
        return TallyAcc(sum(a.n for a in accs))

    def extract_output(self, acc: TallyAcc) -> int:
        if acc.n == 0:
            raise self._empty()
        return acc.n


# ----------------------------------------------------------------------------- registry


def _level(params: dict[str, Any]) -> float:
    q = params["q"]
    return float.fromhex(q) if isinstance(q, str) else float(q)


_FACTORIES: dict[str, tuple[frozenset[str], Callable[[dict[str, Any]], Analyzer]]] = {
    "mean": (frozenset(), lambda p: Mean()),
    "std": (frozenset(), lambda p: Std()),
    "var": (frozenset(), lambda p: Var()),
    "min": (frozenset(), lambda p: Min()),
    "max": (frozenset(), lambda p: Max()),
    "median": (frozenset(), lambda p: Median()),
    "quantile": (frozenset({"q"}), lambda p: Quantile(_level(p))),
    "quantiles": (frozenset({"n"}), lambda p: Quantiles(int(p["n"]))),
    "mode": (frozenset(), lambda p: Mode()),
    "count": (frozenset(), lambda p: Count()),
    "vocab": (
        frozenset({"top", "min_count"}),
        lambda p: Vocab(int(p.get("top", 0)), int(p.get("min_count", 1))),
    ),
    "scale_std": (frozenset(), lambda p: ScaleStd()),
    "scale_range": (frozenset(), lambda p: ScaleRange()),
    "scale_iqr": (frozenset(), lambda p: ScaleIqr()),
    "scale_maxabs": (frozenset(), lambda p: ScaleMaxabs()),
}
ANALYZER_NAMES = tuple(_FACTORIES)


def make_analyzer(name: str, params: dict[str, Any] | None = None) -> Analyzer:
    """The analyzer for a `fitted` node: its name and params (q may be a float.hex string)."""
    if name not in _FACTORIES:
        raise ValueError(f"unknown analyzer {name!r}; known: {', '.join(_FACTORIES)}")
    allowed, factory = _FACTORIES[name]
    given = {k: v for k, v in (params or {}).items() if k != "analyzer"}
    unknown = set(given) - allowed
    if unknown:
        raise ValueError(f"analyzer {name!r} takes no parameter(s) {sorted(unknown)}")
    return factory(given)


__all__ = [
    "ANALYZER_NAMES",
    "DISTINCT_CAP",
    "Analyzer",
    "Bracket",
    "CountsAcc",
    "EmptyAnalyzerError",
    "ExtremesAcc",
    "NextPass",
    "RankAcc",
    "SumsAcc",
    "TallyAcc",
    "from_json",
    "make_analyzer",
    "plan_from_json",
    "plan_to_json",
    "to_json",
]
