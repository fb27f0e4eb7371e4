"""The classic skew scenarios are flagged on the right feature with the right severity; nothing
else is; identical distributions are not flagged, even at 1M rows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from featuredsl.errors import DataError
from featuredsl.monitor.columns import Dataset, columns_from_any
from featuredsl.monitor.profile import profile_data
from featuredsl.monitor.skew import compare, compare_predictions, with_scores

N = 20_000
COUNTRIES = np.array(["US", "DE", "FR", "GB", "BR"], dtype=object)


@dataclass(frozen=True)
class Raw:
    age: np.ndarray  # 20% null
    income: np.ndarray  # dollars, 2% null
    clicks: np.ndarray
    country: np.ndarray
    activity: np.ndarray  # per-user event rate
    plan: np.ndarray


def raw_sample(seed: int, n: int = N) -> Raw:
    rng = np.random.default_rng(seed)
    age = rng.normal(41, 12, n).clip(18, 90).round()
    age[rng.random(n) < 0.2] = np.nan
    income = rng.lognormal(10.6, 0.55, n).round(2)
    income[rng.random(n) < 0.02] = np.nan
    return Raw(
        age=age,
        income=income,
        clicks=rng.poisson(6, n).astype(float),
        country=rng.choice(COUNTRIES, p=[0.45, 0.2, 0.15, 0.12, 0.08], size=n),
        activity=rng.gamma(2.0, 1.5, n),
        plan=rng.choice([0, 1, 2, 3], p=[0.5, 0.3, 0.15, 0.05], size=n),
    )


TRAIN = raw_sample(seed=1)
# Constants fitted on the training data, as the compiler bakes them into both artifacts.
AGE_MEDIAN = float(np.nanmedian(TRAIN.age))
CLICKS_MIN, CLICKS_MAX = float(TRAIN.clicks.min()), float(TRAIN.clicks.max())


def features(raw: Raw, seed: int) -> dict[str, np.ndarray]:
    """The feature computation both paths should perform."""
    rng = np.random.default_rng(seed + 1000)
    return {
        "age_f": np.where(np.isnan(raw.age), AGE_MEDIAN, raw.age),
        "income": raw.income,
        "clicks_scaled": (raw.clicks - CLICKS_MIN) / (CLICKS_MAX - CLICKS_MIN),
        "country": raw.country,
        "sessions_7d": rng.poisson(raw.activity * 7).astype(float),
        "plan_idx": raw.plan.astype(np.int64),
    }


REFERENCE = features(TRAIN, seed=1)


def served(fault: str, seed: int = 2) -> dict[str, np.ndarray]:
    raw = raw_sample(seed)
    out = features(raw, seed)
    if fault == "impute_zero":  # serving fills nulls with 0, training used the median
        out["age_f"] = np.where(np.isnan(raw.age), 0.0, raw.age)
    elif fault == "cents":  # the client sends cents
        out["income"] = raw.income * 100
    elif fault == "request_minmax":  # scaled with each 8-row request's own min/max
        batch = raw.clicks.reshape(-1, 8)
        lo, hi = batch.min(axis=1, keepdims=True), batch.max(axis=1, keepdims=True)
        out["clicks_scaled"] = ((batch - lo) / np.maximum(hi - lo, 1.0)).ravel()
    elif fault == "casing":  # a new client sends lower-case country codes
        out["country"] = np.array([c.lower() for c in raw.country], dtype=object)
    elif fault == "stale":  # the online store serves a snapshot from before a 40% ramp-up
        rng = np.random.default_rng(seed + 2000)
        out["sessions_7d"] = rng.poisson(raw.activity * 7 * 0.72).astype(float)
    elif fault == "missing":
        del out["plan_idx"]
    elif fault == "null_jump":  # an upstream join starts failing for a fifth of the rows
        income = raw.income.copy()
        income[np.random.default_rng(seed + 3000).random(len(income)) < 0.2] = np.nan
        out["income"] = income
    elif fault != "none":
        raise AssertionError(fault)
    return out


SCENARIOS = [
    ("impute_zero", "age_f", "severe", "0 instead of the training median"),
    ("cents", "income", "severe", "unit change"),
    ("request_minmax", "clicks_scaled", "severe", "request-local min/max"),
    ("casing", "country", "severe", "case/whitespace"),
    ("stale", "sessions_7d", "moderate", "stale"),
    ("missing", "plan_idx", "severe", "Absent from the current data"),
    ("null_jump", "income", "moderate", "Null rate rose"),
]


@pytest.fixture(scope="module")
def reference_profile():
    return profile_data(REFERENCE)


@pytest.mark.parametrize("reference_kind", ["data", "profile"])
@pytest.mark.parametrize(
    ("fault", "feature", "severity", "advice"), SCENARIOS, ids=[s[0] for s in SCENARIOS]
)
def test_scenario_flags_the_right_feature_with_the_right_severity(
    fault: str, feature: str, severity: str, advice: str, reference_kind: str, reference_profile
) -> None:
    reference = REFERENCE if reference_kind == "data" else reference_profile
    report = compare(reference, served(fault))
    flagged = {f.name: f.severity for f in report.flagged()}
    assert flagged == {feature: severity}
    result = report.get(feature)
    assert advice in result.recommendation
    assert report.features[0].name == feature  # sorted worst first


def test_clean_serving_is_not_flagged(reference_profile) -> None:
    for reference in (REFERENCE, reference_profile):
        report = compare(reference, served("none"))
        assert report.flagged() == ()
        assert {f.name for f in report.features} == set(REFERENCE)
        assert all(f.recommendation == "No action needed." for f in report.features)


def test_scenario_reasons_and_statistics() -> None:
    cents = compare(REFERENCE, served("cents")).get("income")
    assert cents.numeric is not None and cents.numeric.out_of_range_share > 0.95
    assert cents.numeric.median_current / cents.numeric.median_reference == pytest.approx(
        100, rel=0.05
    )
    casing = compare(REFERENCE, served("casing")).get("country")
    assert casing.reason == "unseen" and casing.categorical is not None
    assert casing.categorical.unseen_share == 1.0
    assert set(casing.categorical.unseen_examples) == {"us", "de", "fr", "gb", "br"}
    nulls = compare(REFERENCE, served("null_jump")).get("income")
    assert nulls.reason == "null_rate"
    assert nulls.null_rate_current == pytest.approx(0.216, abs=0.01)
    assert nulls.check("distribution").severity == "none"  # the non-null values did not move
    missing = compare(REFERENCE, served("missing")).get("plan_idx")
    assert (missing.status, missing.reason, missing.plot) == ("missing", "schema", None)


def test_extra_and_type_changed_columns() -> None:
    current = served("none")
    current["new_feature"] = np.ones(N)
    current["plan_idx"] = np.array([str(v) for v in current["plan_idx"]], dtype=object)
    report = compare(REFERENCE, current)
    assert report.get("new_feature").status == "extra"
    assert report.get("new_feature").severity == "moderate"
    assert report.get("plan_idx").status == "type_changed"
    assert report.get("plan_idx").severity == "severe"


def _identical(seed: int, n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(3.0, 2.0, n)
    x[rng.random(n) < 0.05] = np.nan
    return {
        "x": x,
        "amount": rng.lognormal(4, 1, n).round(2),  # many ties
        "count": rng.poisson(3, n).astype(np.int64),
        "flag": rng.random(n) < 0.3,
        "city": rng.choice(np.array([f"c{i}" for i in range(300)], dtype=object), size=n),
    }


def test_identical_distributions_at_one_million_rows_are_not_flagged() -> None:
    n = 1_000_000
    reference, current = _identical(10, n), _identical(11, n)
    report = compare(reference, current)
    assert report.flagged() == (), [(f.name, f.checks) for f in report.flagged()]
    x = report.get("x")
    assert x.method == "psi" and x.numeric is not None
    # Sensitive tests reject at this size for tiny differences; the effect size decides.
    assert x.numeric.psi < 0.001
    # The same with a stored profile (a KLL sketch) as the reference.
    report = compare(profile_data(reference), current)
    assert report.flagged() == ()
    assert report.get("x").numeric.reference_exact is False  # type: ignore[union-attr]


def test_small_samples_of_one_distribution_are_rarely_flagged() -> None:
    flagged = 0
    for seed in range(100):
        report = compare(_identical(seed, 60), _identical(seed + 500, 60))
        flagged += len(report.flagged())
    # 5 columns x 100 trials; every check is gated by a test at alpha = 0.01.
    assert flagged <= 10


def test_default_method_depends_on_sample_size() -> None:
    rng = np.random.default_rng(4)
    big = {"v": rng.normal(0, 1, 5000)}
    assert compare(big, {"v": rng.normal(0, 1, 5000)}).get("v").method == "psi"
    small = compare(big, {"v": rng.normal(2.0, 1, 50)}).get("v")
    assert small.method == "ks" and small.severity == "severe"
    tiny = compare(big, {"v": rng.normal(5.0, 1, 10)}).get("v")
    assert (tiny.status, tiny.severity) == ("insufficient", "none")


def test_categorical_buckets_keep_one_sided_categories() -> None:
    rng = np.random.default_rng(8)
    ref = {"c": rng.choice(np.array(["a", "b", "c"], dtype=object), size=5000)}
    cur_values = rng.choice(np.array(["a", "b", "d"], dtype=object), size=5000)
    result = compare(ref, {"c": cur_values}).get("c")
    stats = result.categorical
    assert stats is not None
    assert set(stats.buckets) == {"a", "b", "c", "d"}
    assert stats.unseen_share == pytest.approx(np.mean(cur_values == "d"))
    assert stats.linf == pytest.approx(1 / 3, abs=0.03)
    assert result.severity == "severe"


def test_report_is_json_serialisable() -> None:
    report = compare(REFERENCE, served("cents"))
    text = report.to_json()
    data = json.loads(text)
    assert data["counts"]["severe"] == 1 and data["worst"] == "severe"
    income = next(f for f in data["features"] if f["name"] == "income")
    assert income["numeric"]["psi"] > 1 and income["plot"]["kind"] == "histogram"
    assert "NaN" not in text and "Infinity" not in text


def test_prediction_monitor_flags_a_mean_shift() -> None:
    rng = np.random.default_rng(12)
    reference = rng.beta(2, 5, 50_000)
    same = compare_predictions(reference, rng.beta(2, 5, 50_000))
    assert same.flagged() == ()
    shifted = compare_predictions(reference, rng.beta(2.8, 5, 50_000))
    score = shifted.get("score", group="scores")
    assert score.check("mean_shift") is not None
    assert score.check("mean_shift").severity in ("minor", "moderate")  # type: ignore[union-attr]
    assert score.severity != "none"
    assert score.numeric is not None and score.numeric.mean_current > score.numeric.mean_reference
    two = compare_predictions(
        np.column_stack([1 - reference, reference]), np.column_stack([1 - reference, reference])
    )
    assert [f.name for f in two.features] == ["score[0]", "score[1]"]


def test_score_columns_from_a_table() -> None:
    rng = np.random.default_rng(2)
    table = {"f": rng.normal(size=1000), "p": rng.random(1000)}
    dataset = with_scores(Dataset({"features": columns_from_any(table)}), ["p"])
    report = compare(dataset, dataset)
    assert {(f.group, f.name) for f in report.features} == {("features", "f"), ("scores", "p")}
    with pytest.raises(DataError, match="score column 'nope'"):
        with_scores(dataset, ["nope"])


def test_no_common_group_is_a_clear_error() -> None:
    left = Dataset({"inputs": columns_from_any({"a": np.ones(5)})}, source="left.parquet")
    with pytest.raises(DataError, match=r"left\.parquet and current have no group"):
        compare(left, {"a": np.ones(5)})


def test_pandas_and_arrow_inputs() -> None:
    pd = pytest.importorskip("pandas")
    import pyarrow as pa

    frame = pd.DataFrame(
        {
            "x": [1.0, None, 3.0] * 20,
            "s": pd.array(["a", None, "b"] * 20, dtype="string"),
            "i": pd.array([1, None, 2] * 20, dtype="Int64"),
        }
    )
    report = compare(frame, pa.Table.from_pandas(frame))
    assert report.flagged() == ()
    assert report.get("s").kind == "categorical"
    assert report.get("s").null_rate_reference == pytest.approx(1 / 3)
    assert report.get("i").kind == "numeric" and report.get("i").null_rate_current == pytest.approx(
        1 / 3
    )


def test_mixed_object_column_is_a_data_error() -> None:
    with pytest.raises(DataError, match="column 'bad' mixes strings with int"):
        compare({"bad": np.array(["a", 1], dtype=object)}, {"bad": np.array(["a"], dtype=object)})


def test_runtime_rounding_is_not_skew() -> None:
    # onnxruntime's sin differs from numpy's by a few ULP, and sin(pi/6) != sin(5 pi/6) in
    # float64: a discrete feature must not drift because of either.
    rng = np.random.default_rng(6)
    reference = np.sin(2 * np.pi * rng.integers(0, 24, 20_000) / 24)
    served = np.sin(2 * np.pi * rng.integers(0, 24, 20_000) / 24)
    served = served + 3 * np.spacing(served) * rng.choice([-1.0, 1.0], served.size)
    result = compare({"hour_sin": reference}, {"hour_sin": served}).get("hour_sin")
    assert result.severity == "none" and result.numeric is not None
    assert result.numeric.ks_pvalue > 0.01 and result.numeric.psi < 0.01
    assert result.numeric.out_of_range_share == 0.0
    # A real change of the same feature is still seen.
    shifted = np.sin(2 * np.pi * rng.integers(0, 12, 20_000) / 24)
    assert (
        compare({"hour_sin": reference}, {"hour_sin": shifted}).get("hour_sin").severity == "severe"
    )


def test_a_feature_served_all_null_is_severe() -> None:
    current = served("none")
    current["income"] = np.full(N, np.nan)
    result = compare(REFERENCE, current).get("income")
    assert (result.status, result.severity, result.reason) == (
        "insufficient",
        "severe",
        "null_rate",
    )
    assert "Null rate rose from 1.9% to 100.0%" in result.recommendation


def test_part_of_the_traffic_in_another_unit() -> None:
    rng = np.random.default_rng(21)
    income = rng.lognormal(10, 0.5, 20_000)
    served = rng.lognormal(10, 0.5, 20_000)
    cents = rng.random(20_000) < 0.3
    served[cents] *= 100
    report = compare(
        {"income": income, "income_log": np.log1p(income)},
        {"income": served, "income_log": np.log1p(served)},
    )
    assert "times the reference while the rest match" in report.get("income").recommendation
    assert "about ln(100) above the reference" in report.get("income_log").recommendation


def test_score_columns_of_streamed_files(tmp_path: Path) -> None:
    """--score-column moves a column of streamed (file) sides into the scores group too."""
    import subprocess
    import sys

    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    pq.write_table(
        pa.table({"f": rng.normal(size=500), "p": rng.random(500)}), tmp_path / "a.parquet"
    )
    pq.write_table(
        pa.table({"f": rng.normal(size=500), "p": rng.random(500) / 2}), tmp_path / "b.parquet"
    )
    result = subprocess.run(
        [sys.executable, "-m", "featuredsl.cli.main", "skew", "--reference", str(tmp_path / "a.parquet"),
         "--current", str(tmp_path / "b.parquet"), "--score-column", "p", "--fail-on", "never",
         "--json", str(tmp_path / "r.json")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "scores" in result.stdout and "p " in result.stdout
