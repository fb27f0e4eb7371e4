"""Freshness skew and offline/online consistency (issue 16) on the generated data of
examples/freshness: 24-hour-old training scores against live served ones, and an online store
lagging a known delay behind the offline table for part of the traffic."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet
import pytest

from featuredsl.cli.main import main
from featuredsl.compiler.frontend import check_file
from featuredsl.errors import DataError
from featuredsl.monitor.columns import as_dataset
from featuredsl.monitor.freshness import compare_freshness, with_ages
from featuredsl.monitor.store_consistency import check_store_consistency, logged_table
from featuredsl.parity.build import build
from featuredsl.runtime.serving import Session

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "freshness"
HOUR = 3_600_000_000


def _make_data():
    spec = importlib.util.spec_from_file_location("freshness_make_data", EXAMPLE / "make_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


make_data = _make_data()
FRESHNESS = check_file(EXAMPLE / "freshness.fdsl").freshness


def run(argv: list[object], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit status and output of `featuredsl ARGV`, printed 400 columns wide (no wrapping)."""
    with pytest.MonkeyPatch.context() as patch, pytest.raises(SystemExit) as done:
        patch.setenv("COLUMNS", "400")
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return int(done.value.code or 0), out + err


@pytest.fixture(scope="module")
def tables() -> dict[str, pa.Table]:
    rng = np.random.default_rng(7)
    offline = make_data.offline_table(rng)
    return {
        "offline": offline,
        "train": make_data.training_rows(offline, rng),
        "requests": make_data.requests(offline, rng),
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, tables: dict[str, pa.Table]) -> Path:
    """A real build and a real serving log of the lagging requests (SQLite, via the Session)."""
    directory = tmp_path_factory.mktemp("freshness")
    build(EXAMPLE / "freshness.fdsl", tables["train"], directory / "build", timestamp_unit="us")
    rows = tables["requests"].drop_columns(["lagged"]).to_pylist()
    with Session(directory / "build", log=directory / "serving.db", timestamp_unit="us") as session:
        for start in range(0, len(rows), 50):
            session.transform(rows[start : start + 50])
    pa.parquet.write_table(tables["offline"], directory / "offline.parquet")
    make_data.write_csv(tables["train"], directory / "train.csv")
    return directory


# ------------------------------------------------------------------------------ freshness skew


def test_stale_training_against_fresh_serving_is_flagged(tables: dict[str, pa.Table]) -> None:
    assert FRESHNESS is not None
    train = with_ages(as_dataset(tables["train"]), FRESHNESS)
    serve = with_ages(as_dataset(tables["requests"]), FRESHNESS)
    findings = {f.column: f for f in compare_freshness(train, serve, FRESHNESS)}
    assert set(findings) == {"score", "clicks_1h"}
    finding = findings["score"]
    assert finding.severity in ("moderate", "severe")
    assert 24 * HOUR <= finding.training.median <= 24 * HOUR + 15 * 60_000_000
    assert finding.serving.median < HOUR
    assert finding.training.over_budget == 1.0  # every training score is over max_age 12h
    assert "the model learned from staler data than it is served" in finding.reason


def test_equal_ages_are_not_flagged(tables: dict[str, pa.Table]) -> None:
    assert FRESHNESS is not None
    half = tables["requests"].num_rows // 2
    first = with_ages(as_dataset(tables["requests"].slice(0, half)), FRESHNESS)
    second = with_ages(as_dataset(tables["requests"].slice(half)), FRESHNESS)
    for finding in compare_freshness(first, second, FRESHNESS):
        assert finding.severity == "none", finding
    for same in compare_freshness(first, first, FRESHNESS):
        assert same.severity == "none" and same.median_ratio == 1.0


def test_skew_cli_freshness_section_in_text_json_and_html(
    served: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(
        [
            "skew", "--build", served / "build", "--reference", served / "train.csv",
            "--current", served / "serving.db", "--json", served / "skew.json",
            "--html", served / "skew.html",
        ],
        capsys,
    )  # fmt: skip
    assert code == 1
    assert "freshness" in out and "training values were 1 d old at the median" in out
    report = json.loads((served / "skew.json").read_text())
    findings = {f["column"]: f for f in report["freshness"]}
    assert findings["score"]["severity"] == "severe"
    assert findings["clicks_1h"]["serving"]["over_budget"] == pytest.approx(0.3, abs=0.05)
    html = (served / "skew.html").read_text()
    assert 'id="freshness"' in html and 'data-input="score"' in html


def test_profile_keeps_ages_for_skew(served: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run(
        [
            "profile", served / "build", "--data", served / "train.csv",
            "--out", served / "profile.json",
        ],
        capsys,
    )  # fmt: skip
    assert code == 0
    assert "ages" in json.loads((served / "profile.json").read_text())["groups"]
    code, _ = run(
        [
            "skew", "--build", served / "build", "--profile", served / "profile.json",
            "--current", served / "serving.db", "--json", served / "skew_profile.json",
        ],
        capsys,
    )  # fmt: skip
    assert code == 1
    findings = json.loads((served / "skew_profile.json").read_text())["freshness"]
    assert {f["column"]: f["severity"] for f in findings} == {
        "score": "severe",
        "clicks_1h": "severe",
    }


# ------------------------------------------------------------------------------ consistency


@pytest.mark.parametrize(("lag_hours", "share", "seed"), [(6, 0.3, 1), (2, 0.5, 2), (12, 0.1, 3)])
def test_lagging_store_share_and_lag_are_recovered(lag_hours: int, share: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    offline = make_data.offline_table(rng)
    event = np.sort(make_data.T0 + rng.integers(0, 12 * HOUR, 3_000))
    users = [f"u{u:02d}" for u in rng.integers(0, make_data.USERS, 3_000)]
    lagged = rng.random(3_000) < share
    picked = make_data.lookup(offline, users, np.where(lagged, event - lag_hours * HOUR, event))
    served = pa.table(
        {
            "event_ts": pa.array(event, pa.int64()),
            "user": users,
            "score": picked.column("score"),
            "score_ts": picked.column("score_ts"),
        }
    )
    report = check_store_consistency(
        served, offline, on="user", time="event_ts", offline_time="score_ts", timestamp_unit="us"
    )  # compares score and score_ts: the columns both sides have
    assert report.mismatched_rows == int(lagged.sum())  # every lagged row, nothing else
    assert report.lag is not None and report.lag.confidence == 1.0
    assert abs(report.lag.lag - lag_hours * HOUR) <= 0.05 * lag_hours * HOUR
    assert {c.name for c in report.columns} == {"score", "score_ts"}


def test_in_sync_store_matches_everywhere_without_lag(tables: dict[str, pa.Table]) -> None:
    rng = np.random.default_rng(11)
    in_sync = make_data.requests(tables["offline"], rng, lagged_share=0.0)
    report = check_store_consistency(
        in_sync,
        tables["offline"],
        on="user",
        time="event_ts",
        offline_time="score_ts",
        timestamp_unit="us",
    )
    assert report.match_rate == 1.0 and report.mismatched_rows == 0 and report.lag is None
    assert report.lag_text() == "no sync lag: no mismatched row"


def test_missing_values_on_either_side_are_counted() -> None:
    offline = pa.table({"k": ["a", "a", "b"], "t": [0, 10, 0], "x": [1.0, None, 3.0]})
    served = pa.table({"k": ["a", "a", "b", "c"], "now": [5, 20, 5, 5], "x": [None, 2.0, 3.0, 4.0]})
    report = check_store_consistency(
        served, offline, on="k", time="now", offline_time="t", timestamp_unit="us"
    )
    (x,) = report.columns
    assert (x.match, x.mismatch, x.missing_online, x.missing_offline) == (1, 0, 1, 2)
    assert report.no_offline_row == 1


def test_consistency_cli_on_a_real_log(served: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv: list[object] = [
        "consistency", "--log", served / "serving.db", "--offline", served / "offline.parquet",
        "--on", "user", "--time", "event_ts", "--offline-time", "score_ts",
        "--timestamp-unit", "us", "--json", served / "c.json", "--html", served / "c.html",
    ]  # fmt: skip
    code, out = run([*argv, "--fail-above", "0.05"], capsys)
    assert code == 1
    assert "estimated sync lag" in out and "worst keys" in out
    data = json.loads((served / "c.json").read_text())
    assert abs(data["lag"]["lag"] - 6 * HOUR) <= 0.05 * 6 * HOUR
    assert 'id="consistency-columns"' in (served / "c.html").read_text()
    code, _ = run([*argv, "--fail-above", "0.9"], capsys)
    assert code == 0
    code, _ = run(
        [
            "skew", "--build", served / "build", "--reference", served / "train.csv",
            "--current", served / "serving.db", "--html", served / "both.html",
            "--consistency", served / "c.json", "--fail-on", "never",
        ],
        capsys,
    )  # fmt: skip
    both = (served / "both.html").read_text()
    assert code == 0 and 'id="freshness"' in both and 'id="consistency-columns"' in both
    (served / "bad.json").write_text("{}")
    code, out = run(
        [
            "skew", "--build", served / "build", "--reference", served / "train.csv",
            "--current", served / "serving.db", "--html", served / "bad.html",
            "--consistency", served / "bad.json",
        ],
        capsys,
    )  # fmt: skip
    assert code == 1 and "not a `featuredsl consistency --json` report" in out
    assert logged_table(served / "serving.db").num_rows == 2_000
    with_build = [a for a in argv if a not in ("--time", "event_ts")] + [
        "--build",
        served / "build",
    ]
    code, out = run([*with_build, "--fail-above", "0.9"], capsys)
    assert code == 0 and "estimated sync lag 6 h" in out
    code, out = run([a for a in argv if a not in ("--time", "event_ts")], capsys)
    assert code == 2 and "give --time" in out


def test_plain_integer_offline_times_need_their_unit(
    served: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Epoch integers in the offline table are never read in a guessed unit, and a gate fails
    when no served row could be compared at all."""
    with pytest.raises(DataError, match=r"offline table column 'score_ts' holds plain integers"):
        check_store_consistency(
            logged_table(served / "serving.db"),
            pa.parquet.read_table(served / "offline.parquet"),
            on="user",
            time="event_ts",
            offline_time="score_ts",
        )
    argv: list[object] = [
        "consistency", "--log", served / "serving.db", "--offline", served / "offline.parquet",
        "--on", "user", "--time", "event_ts", "--offline-time", "score_ts",
        "--timestamp-unit", "ms", "--fail-above", "0.5",
    ]  # fmt: skip
    code, out = run(argv, capsys)  # microseconds read as ms: every offline row in the future
    assert code == 1 and "no served row could be compared" in out


def test_consistency_names_a_missing_key(served: Path) -> None:
    with pytest.raises(DataError, match="no column 'account'"):
        check_store_consistency(
            logged_table(served / "serving.db"),
            pa.parquet.read_table(served / "offline.parquet"),
            on="account",
            time="event_ts",
            offline_time="score_ts",
            timestamp_unit="us",
        )


@pytest.mark.slow
def test_the_worked_example_runs(tmp_path: Path) -> None:
    """examples/freshness/run.py, as docs/freshness.md runs it: exit 0 means the lagging log
    failed `consistency --fail-above 0.01` and the in-sync control passed."""
    import subprocess

    done = subprocess.run(
        [sys.executable, str(EXAMPLE / "run.py"), "--out", str(tmp_path / "new" / "dir")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "581 of 581 mismatched rows" in done.stdout
    assert "100.00% match the offline table" in done.stdout
