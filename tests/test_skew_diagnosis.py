"""Skew reports diagnose (issue 13, item 5): nulls imputed with a constant on one path, and the
reverse (a sentinel turning into nulls), are recognised and named; same-distribution halves of
real data sets never raise the diagnosis (docs/monitoring.md gives the measured rates)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import datasets

from featuredsl.monitor.skew import compare

ROWS = 4000


def side(rng: np.random.Generator, fill: tuple[float, str] | None = None) -> pd.DataFrame:
    """5% missing device data; `fill` imputes it with a constant (number, category)."""
    x = rng.normal(50, 10, ROWS)
    s = rng.choice(["ios", "android", "web"], ROWS).astype(object)
    missing = rng.random(ROWS) < 0.05
    x[missing] = np.nan if fill is None else fill[0]
    s[missing] = None if fill is None else fill[1]
    return pd.DataFrame({"x": x, "s": s})


def by_name(report: Any) -> dict[str, Any]:
    return {f.name: f for f in report.features}


def test_nulls_imputed_in_current_are_named_with_their_constant() -> None:
    rng = np.random.default_rng(5)
    found = by_name(compare(side(rng), side(rng, (0.0, "unknown"))))
    x, s = found["x"], found["s"]
    assert x.reason == "imputed" and x.severity in ("moderate", "severe")
    assert x.recommendation.startswith("Nulls look imputed with 0.0 in current")
    assert s.reason == "imputed" and s.severity in ("moderate", "severe")
    assert "nulls look imputed with 'unknown' in current" in s.recommendation.lower()


def test_a_sentinel_that_becomes_null_is_named() -> None:
    rng = np.random.default_rng(6)
    found = by_name(compare(side(rng, (0.0, "")), side(rng)))
    for name, shown in (("x", "0.0"), ("s", "''")):
        f = found[name]
        assert f.reason == "imputed" and f.severity in ("moderate", "severe")
        assert f"reference's {shown} looks like a null sentinel" in f.recommendation


def test_no_diagnosis_without_the_signature() -> None:
    rng = np.random.default_rng(7)
    # Nulls dropped (rows removed), not imputed: the null rate falls, no value gains its share.
    reference, current = side(rng), side(rng).dropna()
    for f in compare(reference, current).features:
        assert all(check.name != "imputed" for check in f.checks)


@pytest.mark.parametrize("loader", [datasets.load_breast_cancer, datasets.load_diabetes])
def test_same_distribution_halves_of_real_data_never_look_imputed(loader: Any) -> None:
    frame = loader(as_frame=True).frame
    rng = np.random.default_rng(13)
    for k, column in enumerate(frame.columns):
        if k % 2 == 0:  # 5% missing completely at random in every other column
            frame.loc[rng.random(len(frame)) < 0.05, column] = np.nan
    detected = imputed_columns = 0
    for _ in range(10):
        order = rng.permutation(len(frame))
        half = len(frame) // 2
        a = frame.iloc[order[:half]].reset_index(drop=True)
        b = frame.iloc[order[half:]].reset_index(drop=True)
        for f in compare(a, b).features:
            assert all(check.name != "imputed" for check in f.checks), f
        filled = b.fillna(0.0)
        for f in compare(a, filled).features:
            if b[f.name].isna().sum() >= 5:
                imputed_columns += 1
                detected += f.reason == "imputed"
    assert detected >= imputed_columns // 2  # measured: 82% (breast cancer), 57% (diabetes)


SPEC = """spec small
input { age: float?, plan: string? }
feature age_f = fill_null(age, 30.0)
feature plan_oh = one_hot(fill_null(plan, "none"), vocab(plan))
"""


def raw(rng: np.random.Generator, rows: int = 600) -> pd.DataFrame:
    age = rng.normal(40, 10, rows)
    age[rng.random(rows) < 0.05] = np.nan
    plan = rng.choice(["free", "pro", "team"], rows).astype(object)
    return pd.DataFrame({"age": age, "plan": plan})


def test_raw_inputs_where_features_are_expected_say_how_to_compute_them(tmp_path: Any) -> None:
    from click.testing import CliRunner

    from featuredsl.artifact.spec import Spec
    from featuredsl.cli.main import cli
    from featuredsl.errors import DataError

    rng = np.random.default_rng(9)
    train, served = raw(rng), raw(rng)
    train.to_csv(tmp_path / "train.csv", index=False)
    served.to_csv(tmp_path / "served.csv", index=False)
    fitted = Spec(SPEC).fit(train)
    fitted.save(tmp_path / "build")
    fitted.transform(train, as_frame=True).to_parquet(tmp_path / "features.parquet")

    def run(*args: Any) -> Any:
        return CliRunner().invoke(cli, [str(a) for a in args], standalone_mode=False)

    features, served_csv = tmp_path / "features.parquet", tmp_path / "served.csv"
    result = run("skew", "--reference", features, "--current", served_csv)
    assert isinstance(result.exception, DataError)
    message = str(result.exception)
    assert "have no features column in common" in message and "age, plan" in message
    assert "featuredsl skew --build BUILD_DIR" in message
    # A profile with the inputs group knows the inputs: it says so outright.
    profile = tmp_path / "p.json"
    profiled = run(
        "profile", tmp_path / "build", "--data", tmp_path / "train.csv", "--out", profile
    )
    assert profiled.return_value == 0, profiled.output
    result = run("skew", "--profile", profile, "--current", served_csv)
    expected = "served.csv: holds the spec's raw inputs (age, plan), not its features"
    assert expected in str(result.exception)
    # --build computes them: both groups compared.
    reference = tmp_path / "train.csv"
    out = tmp_path / "r.json"
    built = run(
        "skew",
        "--build",
        tmp_path / "build",
        "--reference",
        reference,
        "--current",
        served_csv,
        "--json",
        out,
    )
    assert built.return_value == 0, built.output
    report = out.read_text()
    assert '"plan_oh[pro]"' in report and '"group": "inputs"' in report


def test_timestamps_are_dates_and_a_split_by_time_is_recognised(tmp_path: Any) -> None:
    from featuredsl.monitor.report import _stats_rows
    from featuredsl.monitor.sources import load_source

    rng = np.random.default_rng(11)
    start = pd.Timestamp("2024-01-01", tz="UTC")

    def stamps(lo: float, hi: float) -> pd.DataFrame:
        days = pd.to_timedelta(np.sort(rng.uniform(lo, hi, 1500)), unit="D")
        return pd.DataFrame({"event_ts": start + days, "x": rng.normal(size=1500)})

    past, future = stamps(0, 180), stamps(185, 215)
    past.to_csv(tmp_path / "past.csv", index=False)  # ISO text with an offset: read as instants
    future.to_csv(tmp_path / "future.csv", index=False)
    for reference, current in (
        (past, future),
        (load_source(tmp_path / "past.csv"), load_source(tmp_path / "future.csv")),
    ):
        ts = by_name(compare(reference, current))["event_ts"]
        assert ts.temporal
        assert "the current data comes after the reference (a split by time" in ts.recommendation
        assert "scaling" not in ts.recommendation
        assert "reference 2024-01-0" in ts.recommendation and ".. 2024-08-0" in ts.recommendation
        rows = dict(_stats_rows(ts))
        assert rows["reference range"].startswith("[2024-01-0")
        assert rows["std"].endswith("days")
    earlier = by_name(compare(future, past))["event_ts"]
    assert "comes before the reference" in earlier.recommendation
    same = by_name(compare(past.iloc[::2], past.iloc[1::2]))["event_ts"]
    assert same.severity == "none"
