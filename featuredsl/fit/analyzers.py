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
  np.quantile(values, q) including its arithmetic with infinities. Accumulator: the distinct
  values with their counts. median = quantile(0.5). quantiles(n): the sorted distinct values of
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


def _linear_quantile(keys: np.ndarray, cum: np.ndarray, q: float) -> float:
    """np.quantile(values, q) with method='linear', replayed on the value counts.

    The steps and float operations are numpy's (_quantile, _get_indexes, _lerp) in its order:
    virtual index (n-1)*q; both neighbours become the last value at or beyond n-1; gamma is the
    virtual index minus the (possibly replaced) lower index; lerp switches form at gamma 0.5.
    """
    n = int(cum[-1])
    virtual = float(n - 1) * q
    below = math.floor(virtual)
    lower, upper = (-1, -1) if virtual >= n - 1 else (below, below + 1)
    gamma = virtual - lower
    a = float(keys[np.searchsorted(cum, lower % n, side="right")])
    b = float(keys[np.searchsorted(cum, upper % n, side="right")])
    diff = b - a
    return b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma


def _quantile(acc: CountsAcc, q: float) -> float:
    return _linear_quantile(acc.keys, np.cumsum(acc.counts), q)


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
        keys = [] if kind is None else [_encode(kind, k) for k in acc.keys.tolist()]
        return {"type": "counts", "kind": kind, "keys": keys, "counts": acc.counts.tolist()}
    if isinstance(acc, ExtremesAcc):
        if acc.kind is None:
            return {"type": "extremes", "kind": None}
        lo, hi = _encode(acc.kind, acc.lo), _encode(acc.kind, acc.hi)
        return {"type": "extremes", "kind": acc.kind, "min": lo, "max": hi}
    if isinstance(acc, TallyAcc):
        return {"type": "tally", "n": acc.n}
    raise TypeError(f"not an accumulator: {type(acc).__name__}")


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
    raise ValueError(f"unknown accumulator type {data.get('type')!r}")


# ----------------------------------------------------------------------------- analyzers


class Analyzer:
    """The CombineFn-style interface every analyzer implements."""

    name: ClassVar[str]

    def create_accumulator(self) -> Any:
        raise NotImplementedError

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


class Quantile(_CountsAnalyzer):
    name = "quantile"

    def __init__(self, q: float) -> None:
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile level must be in [0, 1], got {q!r}")
        self.q = q

    def extract_output(self, acc: CountsAcc) -> float:
        return _quantile(self._checked(acc), self.q)


class Median(_CountsAnalyzer):
    name = "median"

    def extract_output(self, acc: CountsAcc) -> float:
        return _quantile(self._checked(acc), 0.5)


class Quantiles(_CountsAnalyzer):
    name = "quantiles"

    def __init__(self, n: int) -> None:
        if n < 2:
            raise ValueError(f"quantiles needs n >= 2, got {n!r}")
        self.n = n

    def extract_output(self, acc: CountsAcc) -> tuple[float, ...]:
        acc = self._checked(acc)
        cum = np.cumsum(acc.counts)
        levels = [_linear_quantile(acc.keys, cum, i / self.n) for i in range(1, self.n)]
        return tuple(np.unique(np.array(levels, dtype=np.float64)).tolist())


class ScaleIqr(_CountsAnalyzer):
    name = "scale_iqr"

    def extract_output(self, acc: CountsAcc) -> float:
        acc = self._checked(acc)
        return _or_one(_quantile(acc, 0.75) - _quantile(acc, 0.25))


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
    "Analyzer",
    "CountsAcc",
    "EmptyAnalyzerError",
    "ExtremesAcc",
    "SumsAcc",
    "TallyAcc",
    "from_json",
    "make_analyzer",
    "to_json",
]
