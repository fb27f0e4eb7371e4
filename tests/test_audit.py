"""Leakage audit: quiet on a clean table, loud on injected future rows, label copies and late columns."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from featuredsl.errors import DataError
from featuredsl.joins import audit as audit_mod
from featuredsl.joins.audit import Thresholds, audit

HOUR = pd.Timedelta(hours=1)


def clean_table(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """A training table built the right way: informative features, none known after the label."""
    rng = np.random.default_rng(seed)
    t = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 30 * 24, n), unit="h"
    )
    label = rng.integers(0, 2, n)
    plan = np.where(rng.random(n) < 0.2, None, rng.choice(["free", "pro"], n))
    return pd.DataFrame(
        {
            "t": t,
            "ft": t - pd.to_timedelta(rng.integers(0, 7 * 24, n), unit="h"),
            "label": label,
            "spend": rng.normal(size=n) + 0.8 * label,
            "visits": rng.poisson(3, n),
            "active": rng.random(n) < 0.5,
            "score": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
            "plan": plan,
            "signup": t - pd.to_timedelta(rng.integers(24, 24 * 365, n), unit="h"),
        }
    )


def run(table, **kw):
    kw.setdefault("label_time", "t")
    kw.setdefault("feature_times", ["ft"])
    kw.setdefault("label", "label")
    kw.setdefault("timestamp_unit", "us")
    return audit(table, **kw)


def test_clean_table_is_quiet():
    report = run(clean_table())
    assert not report.leaky
    assert report.future_rows[0].count == 0
    assert report.future_rows[0].checked == 600
    assert report.target_leaks == ()
    assert report.post_label_columns == ()
    # The informative feature is scored, just not suspicious.
    spend = next(s for s in report.scores if s.column == "spend" and s.signal == "value")
    assert 0.6 < spend.strength < 0.95
    assert {s.column for s in report.scores if s.signal == "missingness"} == {"score", "plan"}


def test_clean_table_from_arrow_is_quiet_too():
    assert not run(pa.Table.from_pandas(clean_table(seed=3), preserve_index=False)).leaky


def test_injected_future_rows_are_counted_with_examples():
    table = clean_table()
    rows = [3, 50, 51, 200, 201, 202, 599]
    table.loc[rows, "ft"] = table.loc[rows, "t"] + HOUR
    report = run(table, max_examples=5)
    found = report.future_rows[0]
    assert report.leaky
    assert found.flagged
    assert found.count == len(rows)
    assert [e.row for e in found.examples] == rows[:5]
    first = found.examples[0]
    assert first.feature_time > first.label_time
    assert first.label_time.endswith("Z")


def test_equal_times_are_not_future():
    table = clean_table()
    table["ft"] = table["t"]
    assert not run(table).leaky


@pytest.mark.parametrize(
    "make_copy",
    [
        lambda df: df["label"],
        lambda df: 1 - df["label"],  # an inverted copy is just as leaky
        lambda df: df["label"] * 10.0 + np.random.default_rng(1).normal(0, 0.01, len(df)),
        lambda df: df["label"].astype(bool),
    ],
)
def test_injected_label_copy_is_flagged(make_copy):
    table = clean_table()
    table["outcome_code"] = make_copy(table)
    report = run(table)
    assert report.leaky
    leaks = report.target_leaks
    assert [(s.column, s.signal, s.metric) for s in leaks] == [("outcome_code", "value", "auc")]
    assert leaks[0].strength == pytest.approx(1.0)


def test_column_present_only_for_positives_leaks_through_missingness():
    table = clean_table()
    table["refund_amount"] = np.where(table["label"] == 1, 12.5, np.nan)
    report = run(table)
    leaks = report.target_leaks
    assert [(s.column, s.signal) for s in leaks] == [("refund_amount", "missingness")]


def test_continuous_label_uses_spearman():
    table = clean_table()
    rng = np.random.default_rng(2)
    table["label"] = rng.normal(size=len(table))
    assert not run(table).leaky
    table["label_rank"] = np.exp(table["label"])  # monotone transform: Spearman 1
    report = run(table)
    assert report.label_kind == "continuous"
    assert [(s.column, s.metric) for s in report.target_leaks] == [("label_rank", "spearman")]


def test_thresholds_and_min_rows():
    table = clean_table()
    rng = np.random.default_rng(4)
    flip = rng.random(len(table)) < 0.03
    table["almost"] = np.where(flip, 1 - table["label"], table["label"])
    assert not run(table).leaky
    assert run(table, thresholds=Thresholds(auc=0.9)).leaky
    small = clean_table(n=10).assign(label=[0, 1] * 5)
    small["copy"] = small["label"]
    assert not run(small).leaky
    assert run(small, thresholds=Thresholds(min_rows=5)).leaky


def test_timestamp_column_only_after_label_time_is_flagged():
    table = clean_table()
    table["cancelled_at"] = table["t"] + pd.to_timedelta(np.arange(len(table)) % 48 + 1, unit="h")
    table.loc[table.index % 3 == 0, "cancelled_at"] = pd.NaT
    report = run(table, label=None)
    assert report.leaky
    (found,) = report.post_label_columns
    assert (found.column, found.reason, found.before, found.after) == (
        "cancelled_at",
        "all_after_label_time",
        0,
        400,
    )


def test_column_only_in_future_rows_is_flagged():
    table = clean_table()
    late = table.index % 10 == 0
    table.loc[late, "ft"] = table.loc[late, "t"] + HOUR
    table["next_month_spend"] = np.where(late, 3.0, np.nan)
    report = run(table, label=None)
    assert [(c.column, c.reason, c.feature_time) for c in report.post_label_columns] == [
        ("next_month_spend", "only_in_future_rows", "ft")
    ]
    assert report.post_label_columns[0].after == 60


def test_report_to_dict_is_json():
    table = clean_table()
    table["copy"] = table["label"]
    data = json.loads(json.dumps(run(table).to_dict()))
    assert data["leaky"] is True
    assert data["future_rows"][0]["flagged"] is False
    assert data["scores"][0]["column"] == "copy"
    assert data["thresholds"] == {"auc": 0.99, "corr": 0.99, "min_rows": 20}


def test_refusals_and_notes():
    table = clean_table()
    with pytest.raises(DataError, match="time-zone-naive"):
        run(table.assign(t=table["t"].dt.tz_localize(None)))
    with pytest.raises(DataError, match="no column 'y'"):
        run(table, label="y")
    one_class = run(table.assign(label=1))
    assert one_class.scores == ()
    assert "fewer than two distinct values" in one_class.notes[0]
    text = run(table.assign(label=[f"c{i % 3}" for i in range(len(table))]))
    assert "neither binary nor numeric" in text.notes[0]


@pytest.mark.parametrize("seed", range(5))
def test_rank_statistics_match_reference_implementations(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 6, 300).astype(float)  # many ties
    y = rng.integers(0, 2, 300).astype(float)
    assert audit_mod._auc(x, y) == pytest.approx(roc_auc_score(y, x))
    z = rng.normal(size=300)
    assert audit_mod._spearman(x, z) == pytest.approx(spearmanr(x, z).statistic)


def test_awkward_columns_do_not_crash_the_audit():
    table = clean_table()
    table["hashed_id"] = np.arange(len(table), dtype=np.int64) + 2**60 + 1  # not exact in float64
    table["precise_ts"] = table["t"].astype("datetime64[ns, UTC]") + pd.Timedelta(1, "ns")
    report = run(table)
    assert not report.leaky
    assert any("precise_ts" in note and "sub-microsecond" in note for note in report.notes)
    assert any(s.column == "hashed_id" for s in report.scores)
