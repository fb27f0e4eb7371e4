"""`pit-join --with-age` (issue 16): the age of each picked feature row, in int64 microseconds."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_pit_cli import run, utc

from featuredsl.errors import DataError
from featuredsl.joins import pit

# The tables here hold epoch microseconds as plain integers: stated, never guessed.
join_us = functools.partial(pit.join, timestamp_unit="us")

H = 3_600_000_000
INT64_MIN, INT64_MAX = np.iinfo(np.int64).min, np.iinfo(np.int64).max


def test_age_of_the_picked_row_null_when_none() -> None:
    labels = pa.table({"user": [1, 1, 2, 3], "t": [10 * H, 30 * H, 10 * H, 10 * H]})
    scores = pa.table({"user": [1, 1, 2], "ts": [4 * H, 20 * H, 11 * H], "score": [0.1, 0.2, 0.3]})
    joined = join_us(labels, scores, on="user", label_time="t", feature_time="ts", with_age=True)
    assert joined.column("ts_age").to_pylist() == [6 * H, 10 * H, None, None]
    assert joined.column("ts_age").type == pa.int64()


def test_age_columns_per_table_with_prefixes_and_pandas() -> None:
    labels = pd.DataFrame({"user": [1, 2], "t": [10 * H, 10 * H]})
    a = pd.DataFrame({"user": [1, 2], "ts": [9 * H, 10 * H], "x": [1.0, 2.0]})
    b = pd.DataFrame({"user": [1], "ts": [0], "y": [5]})
    joined = join_us(
        labels,
        [pit.FeatureTable(a, prefix="a_"), pit.FeatureTable(b, prefix="b_")],
        on="user",
        label_time="t",
        feature_time="ts",
        with_age=True,
    )
    assert joined["a_ts_age"].tolist() == [H, 0]
    assert joined["b_ts_age"].tolist()[0] == 10 * H and pd.isna(joined["b_ts_age"].tolist()[1])
    assert str(joined["a_ts_age"].dtype) == "Int64"


def test_extreme_times_do_not_overflow() -> None:
    labels = pa.table({"k": [1, 2], "t": [INT64_MAX, INT64_MIN]})
    feats = pa.table({"k": [1, 2], "ts": [INT64_MIN, INT64_MIN]})
    joined = join_us(labels, feats, on="k", label_time="t", feature_time="ts", with_age=True)
    assert joined.column("ts_age").to_pylist() == [INT64_MAX, 0]  # 2**64 - 1 saturates


def test_age_name_clash_is_an_error() -> None:
    labels = pa.table({"k": [1], "t": [H], "ts_age": [0]})
    feats = pa.table({"k": [1], "ts": [0]})
    with pytest.raises(DataError, match="prefix"):
        join_us(labels, feats, on="k", label_time="t", feature_time="ts", with_age=True)


def test_cli_with_age(tmp_path, capsys) -> None:
    pq.write_table(
        pa.table({"user": [1, 2], "t": utc("2024-01-10T12:00", "2024-01-10T12:00")}),
        tmp_path / "labels.parquet",
    )
    pq.write_table(
        pa.table({"user": [1], "ts": utc("2024-01-09T12:00"), "score": [0.5]}),
        tmp_path / "scores.parquet",
    )
    code, _, err = run(
        [
            "pit-join",
            tmp_path / "labels.parquet",
            tmp_path / "scores.parquet",
            "--on",
            "user",
            "--label-time",
            "t",
            "--feature-time",
            "ts",
            "--with-age",
            "--out",
            tmp_path / "out.parquet",
        ],
        capsys,
    )
    assert code == 0
    assert pq.read_table(tmp_path / "out.parquet").column("ts_age").to_pylist() == [24 * H, None]
    assert "age median 1 d, p95 1 d" in err


def test_audit_with_spec_checks_as_of_columns_for_future_values(tmp_path, capsys) -> None:
    spec = tmp_path / "s.fdsl"
    spec.write_text(
        "spec s\ninput {\n  time t\n  t: timestamp\n  x: float as_of x_ts\n  x_ts: timestamp\n}\n"
        "feature f = x\n"
    )
    table = pa.table(
        {
            "t": pa.array([10 * H, 10 * H, 10 * H], pa.int64()),
            "x": [1.0, 2.0, 3.0],
            "x_ts": pa.array([9 * H, 10 * H, 11 * H], pa.int64()),
        }
    )
    pq.write_table(table, tmp_path / "train.parquet")
    code, out, _ = run(
        ["audit", tmp_path / "train.parquet", "--spec", spec, "--timestamp-unit", "us"], capsys
    )
    assert code == 1
    assert "x_ts" in out
    pq.write_table(table.slice(0, 2), tmp_path / "clean.parquet")
    code, _, _ = run(
        ["audit", tmp_path / "clean.parquet", "--spec", spec, "--timestamp-unit", "us"], capsys
    )
    assert code == 0
