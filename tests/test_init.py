"""`featuredsl init --from-data PATH`: a starting spec that passes `check` (and builds), on the
examples' data and on tricky data: names needing backticks, all-null columns, non-ASCII text,
integer timestamps, codes with leading zeros, naive date-times, nested columns."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_bundle import run_cli

from featuredsl import load_spec
from featuredsl.compiler.types import DType
from featuredsl.ingest import read_table

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("example", ["churn", "ads", "fraud"])
def test_the_examples_data_gives_a_spec_that_checks_formats_and_builds(
    example: str, tmp_path: Path
) -> None:
    data = EXAMPLES / example / "train.csv"
    out = tmp_path / f"{example}.fdsl"
    assert run_cli(["init", "--from-data", str(data), "--out", str(out)]) == 0
    assert run_cli(["check", str(out)]) == 0
    assert run_cli(["fmt", "--check", str(out)]) == 0
    spec = load_spec(out)
    # The declared inputs are the file's columns; the types are what build reads them as.
    header = data.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert [c.name for c in spec.inputs] == header
    spec.fit(read_table(data, spec.inputs))  # fits on the very data it came from


def test_the_churn_types_and_nullability(tmp_path: Path) -> None:
    out = tmp_path / "churn.fdsl"
    run_cli(["init", "--from-data", str(EXAMPLES / "churn" / "train.csv"), "--out", str(out)])
    declared = {c.name: (c.dtype, c.nullable) for c in load_spec(out).inputs}
    assert declared == {
        "age": (DType.FLOAT, True),
        "income": (DType.FLOAT, True),
        "clicks_7d": (DType.INT, False),
        "impressions_7d": (DType.INT, False),
        "country": (DType.STRING, False),
        "plan": (DType.STRING, True),
        "event_ts": (DType.TIMESTAMP, False),
        "signup_ts": (DType.TIMESTAMP, False),
        "churned": (DType.BOOL, False),
    }


TRICKY_CSV = (
    "mean radius,sepal.length,if,größe,名前,empty,epoch_s,epoch_ms,zip,when,day,flag,1st\n"
    "1.5,2,a,3.0,アイ,,1700000000,1700000000000,00123,2024-01-01 10:00:00,2024-01-01,true,7\n"
    '2.5,,b,,"",,1700000100,1700000100000,04567,2024-01-02 11:00:00,2024-01-02,,8\n'
)


def test_tricky_csv_columns_are_declared_or_flagged(tmp_path: Path) -> None:
    data = tmp_path / "tricky data.csv"
    data.write_text(TRICKY_CSV, encoding="utf-8")
    out = tmp_path / "tricky.fdsl"
    assert run_cli(["init", "--from-data", str(data), "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert run_cli(["check", str(out)]) == 0
    declared = {c.name: (c.dtype, c.nullable) for c in load_spec(out).inputs}
    assert declared == {
        "mean radius": (DType.FLOAT, False),
        "sepal.length": (DType.INT, True),
        "if": (DType.STRING, False),
        "größe": (DType.FLOAT, True),
        "名前": (DType.STRING, False),  # a quoted "" is the empty string, not null
        "empty": (DType.STRING, True),
        "epoch_s": (DType.INT, False),
        "epoch_ms": (DType.INT, False),
        "zip": (DType.STRING, False),
        "when": (DType.TIMESTAMP, False),
        "day": (DType.TIMESTAMP, False),
        "flag": (DType.BOOL, True),
        "1st": (DType.INT, False),
    }
    for quoted in ("`mean radius`", "`sepal.length`", "`if`", "`größe`", "`名前`", "`1st`"):
        assert f"  {quoted}:" in text
    notes = {
        "every value is null",
        "Unix time in seconds",
        "Unix time in milliseconds",
        "leading zeros",
        "without a UTC offset",
        "dates: featuredsl takes instants",
    }
    for note in notes:
        assert note in text, note
    # One starting feature per column, with plain ASCII names.
    features = re.findall(r"^feature (\S+) =", text, flags=re.MULTILINE)
    assert len(features) == 13 and len(set(features)) == 13
    assert (
        "grosse_z" in features
        and "if_idx" in features
        and "c1st_z" in features
        and "col4_idx" in features
    )
    assert "empty_missing" in features


def test_parquet_types_nested_columns_and_unquotable_names(tmp_path: Path) -> None:
    data = tmp_path / "events.parquet"
    table = pa.table(
        {
            "user": pa.array(["a", None], pa.large_string()),
            "seen": pa.array([1, 2], pa.timestamp("us", tz="UTC")),
            "naive": pa.array([1, 2], pa.timestamp("ms")),
            "tags": pa.array([[1], [2, 3]], pa.list_(pa.int64())),
            "odd`name": pa.array([1.0, 2.0]),
            "score": pa.array([0.5, None], pa.float32()),
            "kind": pa.array(["x", "y"]).dictionary_encode(),
        }
    )
    pq.write_table(table, data)
    out = tmp_path / "events.fdsl"
    assert run_cli(["init", "--from-data", str(data), "--out", str(out)]) == 0
    assert run_cli(["check", str(out)]) == 0
    declared = {c.name: (c.dtype, c.nullable) for c in load_spec(out).inputs}
    assert declared == {
        "user": (DType.STRING, True),
        "seen": (DType.TIMESTAMP, False),
        "naive": (DType.TIMESTAMP, False),
        "score": (DType.FLOAT, True),
        "kind": (DType.STRING, False),
    }
    text = out.read_text(encoding="utf-8")
    assert re.search(r"# skipped 'tags': type list<\w+: int64> cannot be an input", text)
    assert "# skipped 'odd`name': its name holds a backtick" in text


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "spec.fdsl"
    out.write_text("keep me", encoding="utf-8")
    data = str(EXAMPLES / "churn" / "train.csv")
    assert run_cli(["init", "--from-data", data, "--out", str(out)]) == 1
    assert out.read_text(encoding="utf-8") == "keep me"
    assert run_cli(["init", "--from-data", data, "--out", str(out), "--force"]) == 0


def test_a_float_column_with_nan_text_is_nullable_and_builds(tmp_path: Path) -> None:
    """NaN is a float column's null in every reader, so init declares it nullable."""
    from featuredsl.ingest.infer import infer_columns

    data = tmp_path / "e.csv"
    data.write_text("x,n\n1.5,1\n2.5,2\nNaN,3\n", encoding="utf-8")
    columns = {c.name: c for c in infer_columns(data)}
    assert columns["x"].nullable and not columns["n"].nullable
