"""check_consistency: any two feature functions, the same cases, counts per case and per feature."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from featuredsl.compiler.types import DType
from featuredsl.parity.consistency import ALL_FEATURES, check_consistency, values_agree

FEATURES = ["age_z", "ctr", "plan"]
CASES = [
    {"age": 30.0, "clicks": 3, "impressions": 10, "plan": "pro"},
    {"age": 41.5, "clicks": 0, "impressions": 0, "plan": "free"},
    {"age": 22.5, "clicks": 7, "impressions": 7, "plan": "Pro"},
    {"age": math.nan, "clicks": 1, "impressions": 4, "plan": ""},
]


def training(case: dict[str, Any]) -> dict[str, Any]:
    """The training-side features (a mapping)."""
    return {
        "age_z": (case["age"] - 30.0) / 10.0,
        "ctr": case["clicks"] / max(case["impressions"], 1),
        "plan": case["plan"].lower(),
    }


def serving(case: dict[str, Any]) -> list[Any]:
    """A re-implementation that returns one row in FEATURES order, as a port would."""
    return [
        (case["age"] - 30.0) / 10.0,
        case["clicks"] / max(case["impressions"], 1),
        case["plan"].lower(),
    ]


def skewed_serving(case: dict[str, Any]) -> list[Any]:
    """Rounds half up before scaling and forgets to lower-case: typical skew."""
    return [
        (np.floor(case["age"] + 0.5) - 30.0) / 10.0,
        case["clicks"] / max(case["impressions"], 1),
        case["plan"],
    ]


def test_identical_implementations_are_consistent() -> None:
    report = check_consistency(training, serving, CASES, FEATURES)
    assert report.ok
    assert report.passed_cases == 4 and report.failed_cases == 0
    assert [(f.name, f.passed, f.failed) for f in report.features] == [
        ("age_z", 4, 0),
        ("ctr", 4, 0),
        ("plan", 4, 0),
    ]
    assert "consistent: 4 of 4 cases agree" in report.format()


def test_skew_is_reported_per_case_and_per_feature_with_both_values() -> None:
    report = check_consistency(training, skewed_serving, CASES, FEATURES, names=("train", "serve"))
    assert not report.ok
    # 41.5 -> 42 and 22.5 -> 23 move the feature; 30.0 and NaN do not.
    assert [(c.index, c.failed_features) for c in report.cases] == [
        (0, ()),
        (1, ("age_z",)),
        (2, ("age_z", "plan")),
        (3, ()),
    ]
    assert report.feature("age_z").failed == 2 and report.feature("age_z").passed == 2
    assert report.feature("plan").failed == 1
    assert report.feature("ctr").failed == 0
    failure = next(f for f in report.failures if f.case == 2 and f.feature == "plan")
    assert (failure.value_a, failure.value_b) == ("pro", "Pro")
    text = report.format()
    assert "train vs serve: INCONSISTENT: 2 of 4 cases agree" in text
    assert "case 2 row 0 plan: train 'pro' != serve 'Pro'" in text


def test_tolerance_absolute_relative_and_per_feature() -> None:
    def off_by_a_bit(case: dict[str, Any]) -> list[Any]:
        row = serving(case)
        return [row[0] + 1e-12, row[1] * (1 + 1e-9), row[2]]

    assert not check_consistency(training, off_by_a_bit, CASES[:3], FEATURES).ok
    assert check_consistency(
        training, off_by_a_bit, CASES[:3], FEATURES, tolerance=1e-11, rel_tolerance=1e-8
    ).ok
    per_feature = check_consistency(
        training, off_by_a_bit, CASES[:3], FEATURES, tolerance={"age_z": 1e-11}
    )
    assert [f.name for f in per_feature.features if f.failed] == ["ctr"]


def test_matrices_of_several_rows_per_case() -> None:
    def a(feed: np.ndarray) -> np.ndarray:
        return np.column_stack([feed, feed * 2])

    def b(feed: np.ndarray) -> np.ndarray:
        out = a(feed)
        if len(feed) == 3:
            out[1, 1] = -1.0
        return out

    cases = [np.array([1.0, 2.0, np.nan]), np.array([0.0, 5.0])]
    report = check_consistency(a, b, cases, ["x", "x2"])
    assert [(m.case, m.feature, m.row, m.value_a, m.value_b) for m in report.failures] == [
        (0, "x2", 1, 4.0, -1.0)
    ]
    assert report.passed_cases == 1


def test_errors_missing_features_and_row_counts_fail_the_case_not_the_run() -> None:
    def broken(case: dict[str, Any]) -> dict[str, Any]:
        if case["plan"] == "free":
            raise KeyError("country")
        features = training(case)
        if case["plan"] == "":
            del features["ctr"]
        if case["plan"] == "Pro":
            features["age_z"] = [features["age_z"], 0.0]
        return features

    report = check_consistency(training, broken, CASES, FEATURES)
    reasons = {(m.case, m.feature): m.reason for m in report.failures}
    assert reasons[(1, ALL_FEATURES)].startswith("b failed: KeyError")
    assert reasons[(2, "age_z")] == "a has 1 rows, b has 2"
    assert reasons[(3, "ctr")] == "missing from b's result"
    assert report.passed_cases == 1
    assert report.feature("plan").failed == 1  # only case 1, where b raised


def test_a_wrong_number_of_columns_is_reported() -> None:
    report = check_consistency(serving, lambda case: serving(case)[:2], CASES[:1], FEATURES)
    assert "expected 3 feature columns" in report.failures[0].reason


@pytest.mark.parametrize(
    ("a", "b", "agree"),
    [
        (math.nan, math.nan, True),
        (math.nan, 0.0, False),
        (0.0, -0.0, True),
        (math.inf, math.inf, True),
        (math.inf, -math.inf, False),
        (math.inf, 1e308, False),
        (2**63 - 1, 2**63 - 2, False),  # exact for big ints, no float rounding
        (np.int64(3), 3.0, True),
        (True, 1, True),
        ("a", "a", True),
        ("1", 1, False),
        (None, None, True),
    ],
)
def test_values_agree(a: Any, b: Any, agree: bool) -> None:
    assert values_agree(a, b) is agree


def test_numpy_module_against_onnx_graph_row_by_row() -> None:
    """The typical use in featuredsl: training module vs serving graph, one request per case."""
    from featuredsl.artifact.spec import Spec
    from featuredsl.parity import fuzz

    spec = Spec(
        "spec c\ninput { x: float?, s: string }\nfeature a = fill_null(x, 0.5) * 2\nfeature b = hash_bucket(s, 7)\n"
    )
    train = {"x": np.array([1.0, np.nan]), "s": fuzz.to_array(DType.STRING, ["u", "v"])}
    fitted = spec.fit(train)
    session = fuzz.onnx_session(fitted.onnx_model())
    rows = [
        {"x": np.array([v]), "s": fuzz.to_array(DType.STRING, [t])}
        for v, t in [(2.0, "é"), (np.nan, "")]
    ]
    report = check_consistency(
        fitted.transform_feed,
        lambda feed: fuzz.run_session(session, feed),
        rows,
        fitted.feature_names,
    )
    assert report.ok, report.format()
