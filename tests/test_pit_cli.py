"""`featuredsl pit-join` and `featuredsl audit` as a user runs them: files in, files and exit codes out."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from featuredsl.cli.main import main


def run(argv, capsys):
    """Exit status, stdout and stderr of `featuredsl ARGV`."""
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return done.value.code, out, err


def utc(*texts):
    return pa.array(pd.to_datetime(list(texts), utc=True), pa.timestamp("us", tz="UTC"))


@pytest.fixture
def files(tmp_path):
    labels = pa.table(
        {
            "user": [1, 1, 2, 3],
            "t": utc("2024-01-10", "2024-01-20", "2024-01-10", "2024-01-10"),
            "churned": [0, 1, 0, 1],
        }
    )
    spend = pa.table(
        {
            "user": [1, 1, 2, 2],
            "ts": utc("2024-01-01", "2024-01-15", "2024-01-09", "2024-01-11"),
            "spend": [10.0, 20.0, 5.0, 99.0],
        }
    )
    visits = pa.table(
        {
            "user": [1, 2],
            "ts": utc("2024-01-09", "2023-12-01"),
            "visits": [3, 4],
            "note": ["", None],  # "" and null must survive a CSV round trip as themselves
        }
    )
    paths = {
        "labels": tmp_path / "labels.parquet",
        "spend": tmp_path / "spend.parquet",
        "visits": tmp_path / "visits.csv",
    }
    pq.write_table(labels, paths["labels"])
    pq.write_table(spend, paths["spend"])
    pcsv.write_csv(visits, paths["visits"])
    return paths


def join_args(files, out, *extra):
    return [
        "pit-join",
        files["labels"],
        files["spend"],
        files["visits"],
        "--on",
        "user",
        "--label-time",
        "t",
        "--feature-time",
        "ts",
        "--prefix",
        "s_",
        "--prefix",
        "v_",
        "--out",
        out,
        *extra,
    ]


def test_pit_join_parquet_and_csv(files, tmp_path, capsys):
    out = tmp_path / "out" / "joined.parquet"
    code, _, err = run(join_args(files, out, "--ttl", "30d", "--ttl", "7d"), capsys)
    assert code == 0
    joined = pq.read_table(out)
    assert joined.column_names == [
        "user",
        "t",
        "churned",
        "s_ts",
        "s_spend",
        "v_ts",
        "v_visits",
        "v_note",
    ]
    assert joined.column("s_spend").to_pylist() == [10.0, 20.0, 5.0, None]
    # Visits are 1, 11 and 40 days old: only the first is within the 7d TTL of the second file.
    assert joined.column("v_visits").to_pylist() == [3, None, None, None]
    assert joined.column("v_note").to_pylist() == ["", None, None, None]
    assert "spend.parquet: 3 of 4 label rows matched" in err
    assert "visits.csv: 1 of 4 label rows matched" in err

    csv_out = tmp_path / "joined.csv"
    assert run(join_args(files, csv_out, "--ttl", "30d", "--ttl", "7d"), capsys)[0] == 0
    again = pcsv.read_csv(
        csv_out,
        convert_options=pcsv.ConvertOptions(
            strings_can_be_null=True, quoted_strings_can_be_null=False
        ),
    )
    assert again.column("s_spend").to_pylist() == [10.0, 20.0, 5.0, None]
    assert again.column("v_note").to_pylist() == ["", None, None, None]


def test_pit_join_strict(files, tmp_path, capsys):
    labels = pq.read_table(files["labels"])
    pq.write_table(
        labels.set_column(1, "t", utc("2024-01-15", "2024-01-20", "2024-01-09", "2024-01-10")),
        files["labels"],
    )
    out = tmp_path / "j.parquet"
    assert run(join_args(files, out), capsys)[0] == 0
    assert pq.read_table(out).column("s_spend").to_pylist() == [20.0, 20.0, 5.0, None]
    assert run(join_args(files, out, "--strict"), capsys)[0] == 0
    assert pq.read_table(out).column("s_spend").to_pylist() == [10.0, 20.0, None, None]


def test_pit_join_created_time_per_file(files, tmp_path, capsys):
    spend = pq.read_table(files["spend"])
    # The 01-15 value for user 1 was only written on 01-25: a backfill the 01-20 label must not see.
    written = utc("2024-01-01", "2024-01-25", "2024-01-09", "2024-01-11")
    pq.write_table(spend.append_column("written", written), files["spend"])
    out = tmp_path / "j.parquet"
    # An empty value means "no created time" for that file.
    args = join_args(files, out, "--created-time", "written", "--created-time", "", "--ttl", "")
    assert run(args, capsys)[0] == 0
    joined = pq.read_table(out)
    assert joined.column("s_spend").to_pylist() == [10.0, 10.0, 5.0, None]
    assert joined.column("v_visits").to_pylist() == [3, 3, 4, None]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: [*a[:4], "--on", "account", *a[6:]], "labels has no column 'account'"),
        # A typo in a key gets the closest column, compared case-insensitively.
        (lambda a: [*a[:4], "--on", "usr", *a[6:]], "no column 'usr'; did you mean 'user'?"),
        (lambda a: [*a[:4], "--on", "User", *a[6:]], "did you mean 'user'?"),
        (lambda a: [*a, "--ttl", "a week"], "cannot read ttl 'a week'"),
        (
            lambda a: [*a, "--ttl", "1d", "--ttl", "2d", "--ttl", "3d"],
            "--ttl was given 3 times for 2 feature files",
        ),
        (
            lambda a: [x for x in a if x not in ("--prefix", "s_", "v_")],
            "give this feature table a prefix",
        ),
        (lambda a: [*a[:-1], "joined.txt"], "use a .parquet or .csv file name"),
        (lambda a: [*a[:2], "missing.parquet", *a[3:]], "does not exist"),
        (lambda a: [*a[:4], *a[6:]], "Missing option '--on'"),
    ],
)
def test_pit_join_bad_input_is_a_message(files, tmp_path, capsys, change, message):
    args = [str(a) for a in join_args(files, tmp_path / "j.parquet")]
    code, _, err = run(change(args), capsys)
    assert code != 0
    assert message in err


def test_unreadable_and_naive_files(files, tmp_path, capsys):
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    code, _, err = run(
        [
            "pit-join",
            files["labels"],
            broken,
            "--on",
            "user",
            "--label-time",
            "t",
            "--feature-time",
            "ts",
            "--out",
            tmp_path / "x.parquet",
        ],
        capsys,
    )
    assert code == 1
    assert "cannot read" in err and "broken.parquet" in err
    naive = tmp_path / "naive.csv"
    naive.write_text("user,ts,v\n1,2024-01-01 00:00:00,1\n")
    code, _, err = run(
        [
            "pit-join",
            files["labels"],
            naive,
            "--on",
            "user",
            "--label-time",
            "t",
            "--feature-time",
            "ts",
            "--out",
            tmp_path / "x.parquet",
        ],
        capsys,
    )
    assert code == 1
    assert "naive.csv column 'ts' is a time-zone-naive timestamp" in err


# ---------------------------------------------------------------- audit


def audit_table(tmp_path, leak: bool):
    n = 200
    t = pd.Timestamp("2024-03-01", tz="UTC") + pd.to_timedelta(range(n), unit="h")
    label = [i % 2 for i in range(n)]
    frame = pd.DataFrame(
        {
            "t": t,
            "feature_ts": t - pd.Timedelta("1h"),
            "label": label,
            "x": [(i * 7919) % 13 for i in range(n)],
        }
    )
    if leak:
        frame.loc[[5, 6], "feature_ts"] = frame.loc[[5, 6], "t"] + pd.Timedelta("2h")
        frame["label_copy"] = frame["label"]
    path = tmp_path / ("leaky.parquet" if leak else "clean.parquet")
    frame.to_parquet(path)
    return path


def test_audit_clean_exits_0(tmp_path, capsys):
    path = audit_table(tmp_path, leak=False)
    code, out, _ = run(
        ["audit", path, "--label-time", "t", "--feature-time", "feature_ts", "--label", "label"],
        capsys,
    )
    assert code == 0
    assert "No leakage found" in out


def test_audit_leaky_exits_1_and_writes_json(tmp_path, capsys):
    path = audit_table(tmp_path, leak=True)
    report_path = tmp_path / "audit.json"
    argv = [
        "audit",
        path,
        "--label-time",
        "t",
        "--feature-time",
        "feature_ts",
        "--label",
        "label",
        "--json",
        report_path,
    ]
    code, out, _ = run(argv, capsys)
    assert code == 1
    assert "LEAKAGE FOUND" in out
    assert "label_copy" in out
    report = json.loads(report_path.read_text())
    assert report["leaky"] is True
    assert report["future_rows"][0]["count"] == 2
    assert [e["row"] for e in report["future_rows"][0]["examples"]] == [5, 6]
    assert report["scores"][0]["column"] == "label_copy"


def test_audit_threshold_option_and_errors(tmp_path, capsys):
    path = audit_table(tmp_path, leak=True)
    code, _, err = run(["audit", path, "--label-time", "when"], capsys)
    assert code == 1
    assert "leaky.parquet has no column 'when'" in err
    code, _, err = run(["audit", path, "--label-time", "t", "--auc-threshold", "2"], capsys)
    assert code == 2
    assert "--auc-threshold" in err
    # Without --feature-time and --label only the post-label check runs, and there is nothing to find.
    code, out, _ = run(["audit", path, "--label-time", "t"], capsys)
    assert code == 0
    assert "not checked (no --label)" in out
