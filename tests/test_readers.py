"""Readers lose nothing and refuse clearly (issue 13, item 1): every text-file reader keeps every
line, one integer rule for every source, configurable null tokens, TSV, all-null columns, polars."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featuredsl.artifact.spec import Spec
from featuredsl.errors import DataError
from featuredsl.ingest import read_table
from featuredsl.monitor.skew import compare
from featuredsl.monitor.sources import load_source

UTC = dt.timezone.utc


def write(path: Path, text: str) -> Path:
    path.write_text(text, "utf-8")
    return path


def test_an_empty_line_is_a_null_row_never_dropped(tmp_path: Path) -> None:
    # What pandas writes for a one-column frame holding a NaN: an empty line.
    write(tmp_path / "one.csv", "x\n1.5\n\n2.5\n")
    spec = Spec("spec t\ninput { x: float? }\nfeature f = fill_null(x, -1.0)\n")
    fitted = spec.fit(tmp_path / "one.csv")
    out = fitted.transform(tmp_path / "one.csv")
    assert out.ravel().tolist() == [1.5, -1.0, 2.5]
    # pandas writes that null as "" instead: in a column that is not a string, that is null too.
    pd.DataFrame({"x": [1.5, np.nan, 2.5]}).to_csv(tmp_path / "pandas.csv", index=False)
    assert fitted.transform(tmp_path / "pandas.csv").ravel().tolist() == [1.5, -1.0, 2.5]
    strings = Spec("spec t\ninput { s: string? }\nfeature f = is_null(s)\n")
    write(tmp_path / "s.csv", 's\na\n""\n\n')
    assert strings.feed(tmp_path / "s.csv")["s.is_null"].tolist() == [False, False, True]
    strict = Spec("spec t\ninput { x: float }\nfeature f = x\n")
    with pytest.raises(DataError, match=r"column 'x', row 1: is null .* non-nullable"):
        strict.fit(tmp_path / "one.csv")
    # The monitor's and pit-join's readers keep the line too.
    assert load_source(tmp_path / "one.csv").rows() == 3
    from featuredsl.cli.pit import read_table as pit_read

    assert pit_read(tmp_path / "one.csv").num_rows == 3


@pytest.mark.parametrize("dtype", ["float", "int", "bool", "string", "timestamp"])
def test_a_header_only_csv_is_the_same_outcome_for_every_type(tmp_path: Path, dtype: str) -> None:
    path = write(tmp_path / "empty.csv", "v\n")
    fitted = Spec(f"spec t\ninput {{ v: {dtype}? }}\nfeature f = is_null(v)\n").fit(path)
    assert fitted.quality is not None
    assert any("0 rows" in finding for finding in fitted.quality.findings)
    assert fitted.transform(path).shape == (0, 1)


def test_integral_floats_are_one_rule_for_every_source(tmp_path: Path) -> None:
    spec = Spec("spec t\ninput { n: int }\nfeature f = n * 2\n")
    text = write(tmp_path / "n.csv", "n\n1400.0\n1.4e3\n-2.\n7\n9007199254740993.0\n")
    feed = spec.feed(text)
    assert feed["n"].tolist() == [1400, 1400, -2, 7, 9007199254740993]  # exact, never via float
    assert spec.feed(pd.DataFrame({"n": [1400.0]}))["n"].tolist() == [1400]
    write(tmp_path / "bad.csv", "n\n1\n1400.5\n")
    with pytest.raises(DataError) as err:
        spec.feed(tmp_path / "bad.csv")
    assert "column 'n', row 1: '1400.5' has a fractional part but the column is int" in str(
        err.value
    )
    with pytest.raises(DataError, match=r"column 'n', row 1: 1400.5 has a fractional part"):
        spec.feed(pd.DataFrame({"n": [1.0, 1400.5]}))
    write(tmp_path / "hex.csv", "n\n0x10\n")
    with pytest.raises(DataError, match="'0x10' is not a decimal integer"):
        spec.feed(tmp_path / "hex.csv")


def test_null_tokens_are_configured_never_guessed(tmp_path: Path) -> None:
    path = write(tmp_path / "na.csv", "s,x\nNA,1.0\nb,NULL\n")
    spec = Spec("spec t\ninput { s: string?, x: float? }\nfeature f = is_null(s)\n")
    with pytest.raises(DataError, match=r"column 'x', row 1: 'NULL' is not a number"):
        spec.feed(path)  # by default only an empty field is null
    table = read_table(path, spec.inputs, null_values=["NA", "NULL"])
    feed = spec.feed(table)
    assert feed["s.is_null"].tolist() == [True, False]
    assert np.isnan(feed["x"][1])
    kept = spec.feed(write(tmp_path / "s.csv", "s,x\nNA,1.0\n"))
    assert kept["s"].tolist() == ["NA"] and not kept["s.is_null"][0]  # "NA" is a string


def test_tsv_is_read_by_every_reader(tmp_path: Path) -> None:
    path = write(tmp_path / "d.tsv", "n\ts\n1\ta b\n2\t\n")
    spec = Spec("spec t\ninput { n: int, s: string? }\nfeature f = n + 1\n")
    feed = spec.feed(path)
    assert feed["n"].tolist() == [1, 2] and feed["s.is_null"].tolist() == [False, True]
    assert feed["s"][0] == "a b"
    assert load_source(path).rows() == 2
    from featuredsl.cli.pit import read_table as pit_read

    assert pit_read(path).column("s").to_pylist() == ["a b", None]


def test_an_all_null_column_is_nulls_of_the_declared_type(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"f": rng.normal(size=400), "s": rng.choice(["a", "b"], 400)})
    table = pa.table({"f": pa.nulls(400), "s": pa.nulls(400)})
    pq.write_table(table, tmp_path / "cur.parquet")
    write(tmp_path / "cur.csv", "f,s\n" + ",\n" * 400)
    for current in (tmp_path / "cur.parquet", tmp_path / "cur.csv"):
        report = compare(reference, load_source(current))
        by_name = {f.name: f for f in report.features}
        for name in ("f", "s"):
            assert by_name[name].severity == "severe", by_name[name]
            assert by_name[name].status != "type_changed"
            assert by_name[name].reason == "null_rate"
            assert by_name[name].null_rate_current == 1.0
    spec = Spec("spec t\ninput { f: float?, s: string? }\nfeature g = is_null(s)\n")
    feed = spec.feed(tmp_path / "cur.parquet")
    assert np.isnan(feed["f"]).all() and feed["s.is_null"].all()


def test_polars_frames_are_read_through_arrow() -> None:
    pl = pytest.importorskip("polars")
    spec = Spec(
        "spec t\ninput { x: float?, n: int?, s: string?, t: timestamp }\n"
        "feature f = fill_null(x, 0.0) + hour(t)\nfeature g = is_null(s)\nfeature h = is_null(n)\n"
    )
    when = [dt.datetime(2024, 1, 1, 5, tzinfo=UTC), dt.datetime(2024, 1, 1, 7, tzinfo=UTC)]
    columns = {"x": [1.0, None], "n": [1, None], "s": ["a", None], "t": when}
    polars_frame = pl.DataFrame(columns)
    fitted = spec.fit(polars_frame)
    expected = fitted.transform(pd.DataFrame(columns).astype({"n": "Int64"}))
    np.testing.assert_array_equal(fitted.transform(polars_frame), expected)
    with pytest.raises(DataError, match=r"polars LazyFrame.*call \.collect\(\) first"):
        spec.fit(polars_frame.lazy())
    naive = polars_frame.with_columns(pl.col("t").dt.replace_time_zone(None))
    with pytest.raises(DataError, match="time-zone-naive"):
        spec.fit(naive)
    assert (
        compare(polars_frame.select("x"), polars_frame.select("x")).features[0].severity == "none"
    )


def test_null_tokens_on_the_command_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from featuredsl.artifact.load import load
    from featuredsl.cli.main import cli

    spec = write(
        tmp_path / "t.fdsl", "spec t\ninput { x: float?, s: string? }\nfeature f = is_null(s)\n"
    )
    data = write(tmp_path / "d.tsv", "x\ts\n1.0\tNA\nNA\tb\n2.0\tc\n")
    args = ["build", str(spec), "--data", str(data), "--out", str(tmp_path / "b")]
    refused = CliRunner().invoke(cli, args, standalone_mode=False)
    assert isinstance(refused.exception, DataError)
    assert "column 'x', row 1: 'NA' is not a number" in str(refused.exception)
    built = CliRunner().invoke(cli, [*args, "--null-token", "NA"], standalone_mode=False)
    assert built.return_value == 0, built.output
    table = read_table(data, null_values=["NA"])
    assert load(tmp_path / "b").transform(table).ravel().tolist() == [1.0, 0.0, 0.0]
    skew = [
        "skew",
        "--reference",
        str(data),
        "--current",
        str(data),
        "--json",
        str(tmp_path / "r.json"),
    ]
    checked = CliRunner().invoke(cli, [*skew, "--null-token", "NA"], standalone_mode=False)
    assert checked.return_value == 0, checked.output
    assert '"null_rate_reference": 0.3333' in (tmp_path / "r.json").read_text()


def test_null_tokens_in_profile_and_the_pit_join_reader(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from featuredsl.cli.main import cli
    from featuredsl.cli.pit import read_table as pit_read
    from featuredsl.monitor.profile import Profile

    data = write(tmp_path / "d.tsv", "x\ts\n1.0\tNA\nNA\tb\n2.0\tc\n")
    assert pit_read(data).column("s").to_pylist() == ["NA", "b", "c"]
    assert pit_read(data, ["NA"]).column("s").to_pylist() == [None, "b", "c"]
    spec = write(
        tmp_path / "t.fdsl", "spec t\ninput { x: float?, s: string? }\nfeature f = is_null(s)\n"
    )
    Spec(spec.read_text()).fit(read_table(data, null_values=["NA"])).save(tmp_path / "b")
    out = tmp_path / "p.json"
    args = ["profile", str(tmp_path / "b"), "--data", str(data), "--out", str(out)]
    done = CliRunner().invoke(cli, [*args, "--null-token", "NA"], standalone_mode=False)
    assert done.return_value == 0, done.output
    assert Profile.load(out).summary("inputs", "s").nulls == 1


def test_epoch_integers_in_a_csv_need_the_timestamp_unit(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from featuredsl.artifact.load import load
    from featuredsl.cli.main import cli

    spec = write(
        tmp_path / "t.fdsl", "spec t\ninput { t: timestamp? }\nfeature h = fill_null(hour(t), -1)\n"
    )
    data = write(tmp_path / "d.csv", "t\n1609462800\n\n1609470000\n")  # 01:00, null, 03:00 UTC
    args = ["build", str(spec), "--data", str(data), "--out", str(tmp_path / "b")]
    refused = CliRunner().invoke(cli, args, standalone_mode=False)
    assert isinstance(refused.exception, DataError)
    assert "column 't' holds bare integers (first at row 0: 1609462800)" in str(refused.exception)
    assert "--timestamp-unit" in str(refused.exception)
    built = CliRunner().invoke(cli, [*args, "--timestamp-unit", "s"], standalone_mode=False)
    assert built.return_value == 0, built.output
    hours = load(tmp_path / "b").transform(read_table(data), timestamp_unit="s")[:, 0]
    assert hours.tolist() == [1.0, -1.0, 3.0]
    parity = ["parity", str(tmp_path / "b"), "--data", str(data), "--timestamp-unit", "s"]
    assert CliRunner().invoke(cli, parity, standalone_mode=False).return_value == 0
    mixed = write(tmp_path / "m.csv", "t\n1609462800\n2021-01-01T00:00:00Z\n")
    with pytest.raises(DataError, match="row 0: '1609462800' is not an ISO-8601 timestamp"):
        read_table(mixed, Spec(spec.read_text()).inputs)


def test_profile_and_skew_take_the_timestamp_unit_too(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from featuredsl.cli.main import cli

    spec = write(tmp_path / "t.fdsl", "spec t\ninput { t: timestamp }\nfeature h = hour(t)\n")
    data = write(tmp_path / "d.csv", "t\n1609462800\n1609470000\n1609473600\n")
    build = ["build", str(spec), "--data", str(data), "--out", str(tmp_path / "b")]
    assert CliRunner().invoke(cli, [*build, "--timestamp-unit", "s"]).exit_code == 0
    profile = ["profile", str(tmp_path / "b"), "--data", str(data), "--out", str(tmp_path / "p")]
    refused = CliRunner().invoke(cli, profile, standalone_mode=False)
    assert isinstance(refused.exception, DataError) and "bare integers" in str(refused.exception)
    done = CliRunner().invoke(cli, [*profile, "--timestamp-unit", "s"], standalone_mode=False)
    assert done.return_value == 0, done.output
    skew = ["skew", "--build", str(tmp_path / "b"), "--reference", str(data), "--current"]
    report = tmp_path / "r.json"
    checked = CliRunner().invoke(
        cli,
        [*skew, str(data), "--timestamp-unit", "s", "--json", str(report)],
        standalone_mode=False,
    )
    assert checked.return_value == 0, checked.output
    # The spec says 't' holds instants: the report treats the input as time, shown as dates.
    (t,) = [f for f in json.loads(report.read_text())["features"] if f["name"] == "t"]
    assert t["group"] == "inputs" and t["temporal"] is True
