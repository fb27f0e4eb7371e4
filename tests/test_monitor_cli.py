"""`featuredsl profile / skew / replay` end to end (with a stand-in for the build directory)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from test_monitor_support import fake_artifacts_module

from featuredsl.cli.main import main
from featuredsl.monitor.serving_log import LoggedSession

FP = "fp-test-0001"


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(argv)
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


@pytest.fixture
def artifacts(monkeypatch):
    module = fake_artifacts_module(FP)
    monkeypatch.setitem(__import__("sys").modules, "featuredsl.artifact.load", module)
    return module


def _table(seed: int, n: int = 3000, scale: float = 1.0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "x": rng.normal(5, 2, n) * scale,
            "y": rng.gamma(2, 2, n),
            "city": rng.choice(np.array(["a", "b", "c"], dtype=object), n),
        }
    )


def test_skew_on_files_writes_reports_and_sets_the_exit_status(tmp_path: Path, capsys) -> None:
    ref, cur, clean = tmp_path / "train.parquet", tmp_path / "served.csv", tmp_path / "ok.csv"
    pq.write_table(_table(0), ref)
    pacsv.write_csv(_table(1, scale=100.0), cur)
    pacsv.write_csv(_table(2), clean)
    html, out_json = tmp_path / "r.html", tmp_path / "r.json"
    code, out, err = run(
        [
            "skew",
            "--reference",
            str(ref),
            "--current",
            str(cur),
            "--html",
            str(html),
            "--json",
            str(out_json),
        ],
        capsys,
    )
    assert code == 1, err
    words = " ".join(out.split())  # rich wraps to the terminal width
    assert "1 severe" in words and "unit change" in words
    data = json.loads(out_json.read_text())
    worst = data["features"][0]
    assert (worst["name"], worst["severity"]) == ("x", "severe")
    assert html.read_text().count('<svg class="plot') == 3
    assert run(["skew", "--reference", str(ref), "--current", str(clean)], capsys)[0] == 0
    never = ["skew", "--reference", str(ref), "--current", str(cur), "--fail-on", "never"]
    assert run(never, capsys)[0] == 0


def test_profile_then_skew_against_a_serving_log(tmp_path: Path, capsys, artifacts) -> None:
    train = tmp_path / "train.parquet"
    pq.write_table(_table(0, n=5000), train, row_group_size=1000)
    profile = tmp_path / "profile.json"
    code, out, err = run(
        [
            "profile",
            "build/toy",
            "--data",
            str(train),
            "--out",
            str(profile),
            "--batch-rows",
            "1500",
        ],
        capsys,
    )
    assert code == 0, err
    assert "5,000 rows, 2 features, 2 inputs" in out and artifacts.loaded == ["build/toy"]
    stored = json.loads(profile.read_text())
    assert stored["fingerprint"] == FP
    assert set(stored["groups"]["features"]) == {"x2", "y1"}
    assert set(stored["groups"]["inputs"]) == {"x", "y"}
    assert stored["groups"]["features"]["x2"]["rows"] == 5000

    # Merging the profiles of two halves equals profiling the whole (exact parts).
    halves = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    whole = _table(0, n=5000)
    pq.write_table(whole.slice(0, 2000), halves[0])
    pq.write_table(whole.slice(2000), halves[1])
    parts = []
    for i, half in enumerate(halves):
        parts.append(tmp_path / f"p{i}.json")
        run(["profile", "build/toy", "--data", str(half), "--out", str(parts[i])], capsys)
    merged = tmp_path / "merged.json"
    assert (
        run(
            ["profile", "--merge", str(parts[0]), "--merge", str(parts[1]), "--out", str(merged)],
            capsys,
        )[0]
        == 0
    )
    m, s = json.loads(merged.read_text()), stored
    for group in ("features", "inputs"):
        for name, column in s["groups"][group].items():
            other = m["groups"][group][name]
            for key in ("rows", "nulls", "min", "max", "pos_inf", "neg_inf"):
                assert other[key] == column[key]
            assert other["mean"] == pytest.approx(column["mean"], rel=1e-12)

    # Serve shifted traffic through the logging wrapper, then check it against the profile.
    log = tmp_path / "serving.db"
    session = LoggedSession(artifacts.load("build/toy").session, log, FP)
    rng = np.random.default_rng(9)
    for _ in range(60):
        feed = {"x": rng.normal(5, 2, 50), "y": rng.gamma(2, 2, 50) + 3.0}
        session.run(None, feed)
    session.close()
    report = tmp_path / "skew.json"
    code, out, err = run(
        ["skew", "--profile", str(profile), "--current", str(log), "--json", str(report)], capsys
    )
    assert code == 1, err
    flagged = {
        (f["group"], f["name"]): f["severity"] for f in json.loads(report.read_text())["features"]
    }
    assert flagged[("features", "y1")] != "none" and flagged[("inputs", "y")] != "none"
    assert flagged[("features", "x2")] == "none" and flagged[("inputs", "x")] == "none"


def test_replay_command(tmp_path: Path, capsys, artifacts) -> None:
    log = tmp_path / "serving.db"

    class Drifting:
        def __init__(self, session):
            self.session = session

        def run(self, names, feed, options=None):
            return self.session.run(names, {**feed, "y": feed["y"] + 0.5})

    session = LoggedSession(
        Drifting(artifacts.load("b").session), log, FP, feature_names=["x2", "y1"]
    )
    for i in range(10):
        session.run(["features"], {"x": np.arange(4.0), "y": np.full(4, float(i))})
    session.close()
    out_json = tmp_path / "replay.json"
    code, out, err = run(
        ["replay", "build/toy", "--log", str(log), "--json", str(out_json)], capsys
    )
    assert code == 1, err
    assert "y1" in out and "100.0000%" in out and "FAIL" in out
    data = json.loads(out_json.read_text())
    features = {f["name"]: f for f in data["features"]}
    assert features["y1"]["mismatch"] == 40 and features["x2"]["match"] == 40
    assert run(["replay", "build/toy", "--log", str(log), "--threshold", "1"], capsys)[0] == 0


def test_errors_are_messages_not_tracebacks(tmp_path: Path, capsys) -> None:
    code, _, err = run(
        ["skew", "--reference", str(tmp_path / "nope.parquet"), "--current", "x.csv"], capsys
    )
    assert code == 1 and "nope.parquet: file not found" in err and "Traceback" not in err
    bogus = tmp_path / "log.db"
    bogus.write_text("not sqlite")
    code, _, err = run(["replay", str(tmp_path), "--log", str(bogus)], capsys)
    assert code == 1 and "Traceback" not in err
    code, _, err = run(["skew", "--current", "x.csv"], capsys)
    assert code == 2 and "exactly one of --reference and --profile" in err
