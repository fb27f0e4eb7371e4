"""A generic consistency check of any two feature functions on the same cases.

In the spirit of the classic feature-consistency test of a serving stack: run the training-side
and the serving-side implementation on the same inputs, compare every feature, and report how
many cases and features agree, listing each disagreement with both values. It is not tied to
featuredsl artifacts: compare a hand-written pandas pipeline with a Java service's responses,
the numpy module with the ONNX graph, or two versions of one feature function.

    report = check_consistency(train_features, serve_features, cases, ["age_z", "ctr"], tolerance=1e-9)
    assert report.ok, report.format()

Each function takes one case (whatever a case is: a row dict, a feed of several rows, a request)
and returns its features as one of:

- a mapping feature name -> value (a scalar, or one value per row);
- a 1-D sequence: one row, in `feature_names` order;
- a 2-D array: rows x features, in `feature_names` order.

Two values agree when they are equal, both NaN, or (numbers) within
`tolerance + rel_tolerance * max(|a|, |b|)`; infinities agree only with the same infinity.
`tolerance` may be a mapping feature name -> tolerance (features not in it are exact).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FeatureFunction = Callable[[Any], Any]
ALL_FEATURES = "*"  # the feature of a failure that concerns the whole case (an error, a shape)


@dataclass(frozen=True)
class Mismatch:
    """One disagreement: in which case, feature and row, the two values, and why."""

    case: int
    feature: str
    row: int | None
    value_a: Any
    value_b: Any
    reason: str = "values differ"

    def describe(self, names: tuple[str, str] = ("a", "b")) -> str:
        where = f"case {self.case}" + (f" row {self.row}" if self.row is not None else "")
        if self.reason != "values differ":
            return f"{where} {self.feature}: {self.reason}"
        return f"{where} {self.feature}: {names[0]} {self.value_a!r} != {names[1]} {self.value_b!r}"


@dataclass(frozen=True)
class CaseResult:
    index: int
    failed_features: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failed_features


@dataclass(frozen=True)
class FeatureResult:
    name: str
    passed: int  # cases in which every row of this feature agreed
    failed: int


@dataclass(frozen=True)
class ConsistencyReport:
    feature_names: tuple[str, ...]
    cases: tuple[CaseResult, ...]
    failures: tuple[Mismatch, ...]
    names: tuple[str, str] = ("a", "b")
    features: tuple[FeatureResult, ...] = field(init=False)

    def __post_init__(self) -> None:
        counts = []
        for name in self.feature_names:
            failed = sum(
                1
                for c in self.cases
                if name in c.failed_features or ALL_FEATURES in c.failed_features
            )
            counts.append(FeatureResult(name, len(self.cases) - failed, failed))
        object.__setattr__(self, "features", tuple(counts))

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def passed_cases(self) -> int:
        return sum(1 for c in self.cases if c.passed)

    @property
    def failed_cases(self) -> int:
        return len(self.cases) - self.passed_cases

    def feature(self, name: str) -> FeatureResult:
        return next(f for f in self.features if f.name == name)

    def format(self, max_failures: int = 20) -> str:
        a, b = self.names
        status = "consistent" if self.ok else "INCONSISTENT"
        lines = [f"{a} vs {b}: {status}: {self.passed_cases} of {len(self.cases)} cases agree"]
        for result in self.features:
            mark = "ok" if result.failed == 0 else f"{result.failed} FAILED"
            lines.append(f"  {result.name}: {result.passed} passed, {mark}")
        for mismatch in self.failures[:max_failures]:
            lines.append("  " + mismatch.describe(self.names))
        if len(self.failures) > max_failures:
            lines.append(f"  ... and {len(self.failures) - max_failures} more")
        return "\n".join(lines)


def check_consistency(
    fn_a: FeatureFunction,
    fn_b: FeatureFunction,
    cases: Iterable[Any],
    feature_names: Sequence[str],
    tolerance: float | Mapping[str, float] = 0.0,
    rel_tolerance: float = 0.0,
    names: tuple[str, str] = ("a", "b"),
) -> ConsistencyReport:
    """Run both functions on every case and compare each feature (see the module docstring)."""
    features = tuple(feature_names)
    results: list[CaseResult] = []
    failures: list[Mismatch] = []
    for index, case in enumerate(cases):
        found = _compare_case(index, case, fn_a, fn_b, features, tolerance, rel_tolerance, names)
        failures.extend(found)
        results.append(CaseResult(index, tuple(dict.fromkeys(m.feature for m in found))))
    return ConsistencyReport(features, tuple(results), tuple(failures), names)


def _compare_case(
    index: int,
    case: Any,
    fn_a: FeatureFunction,
    fn_b: FeatureFunction,
    features: tuple[str, ...],
    tolerance: float | Mapping[str, float],
    rel_tolerance: float,
    names: tuple[str, str],
) -> list[Mismatch]:
    tables = []
    for label, fn in zip(names, (fn_a, fn_b), strict=True):
        try:
            tables.append(as_columns(fn(case), features))
        except Exception as error:  # one broken case must not hide the others
            return [
                Mismatch(
                    index,
                    ALL_FEATURES,
                    None,
                    None,
                    None,
                    f"{label} failed: {type(error).__name__}: {error}",
                )
            ]
    table_a, table_b = tables
    found: list[Mismatch] = []
    for feature in features:
        limit = tolerance.get(feature, 0.0) if isinstance(tolerance, Mapping) else tolerance
        found.extend(
            _compare_feature(
                index, feature, table_a[feature], table_b[feature], limit, rel_tolerance, names
            )
        )
    return found


def as_columns(result: Any, features: Sequence[str]) -> dict[str, np.ndarray | None]:
    """A function's result as one 1-D array per feature (None where a mapping lacks the feature)."""
    if isinstance(result, Mapping):
        return {
            f: (np.atleast_1d(np.asarray(result[f])) if f in result else None) for f in features
        }
    # Lists keep their Python values (a row of numbers and text must not become all text).
    array = result if isinstance(result, np.ndarray) else np.array(result, dtype=object)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != len(features):
        raise ValueError(
            f"expected {len(features)} feature columns, got an array of shape {np.shape(result)}"
        )
    return {f: array[:, i] for i, f in enumerate(features)}


def _compare_feature(
    case: int,
    feature: str,
    a: np.ndarray | None,
    b: np.ndarray | None,
    tolerance: float,
    rel_tolerance: float,
    names: tuple[str, str],
) -> list[Mismatch]:
    for label, values in zip(names, (a, b), strict=True):
        if values is None:
            return [Mismatch(case, feature, None, None, None, f"missing from {label}'s result")]
    assert a is not None and b is not None
    if a.shape != b.shape:
        return [
            Mismatch(
                case,
                feature,
                None,
                None,
                None,
                f"{names[0]} has {a.size} rows, {names[1]} has {b.size}",
            )
        ]
    return [
        Mismatch(case, feature, row, _plain(a[row]), _plain(b[row]))
        for row in range(len(a))
        if not values_agree(a[row], b[row], tolerance, rel_tolerance)
    ]


def values_agree(a: Any, b: Any, tolerance: float = 0.0, rel_tolerance: float = 0.0) -> bool:
    """Equal, both NaN, or numbers within tolerance + rel_tolerance * max(|a|, |b|)."""
    if _is_integer(a) and _is_integer(b):  # exactly, also beyond 2**53
        i, j = int(a), int(b)
        return i == j or abs(i - j) <= tolerance + rel_tolerance * max(abs(i), abs(j))
    x, y = _number(a), _number(b)
    if x is None or y is None:
        return bool(a == b) and type(x) is type(y)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if x == y:
        return True
    if math.isinf(x) or math.isinf(y):
        return False
    return abs(x - y) <= tolerance + rel_tolerance * max(abs(x), abs(y))


def _is_integer(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_, int, np.integer))


def _number(value: Any) -> float | None:
    """A real number as float (bools and ints too), or None for anything else (text, objects)."""
    if isinstance(value, (bool, np.bool_, int, np.integer, float, np.floating)):
        return float(value)
    return None


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
