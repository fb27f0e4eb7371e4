"""`featuredsl consistency --events`: served windows against the offline event log. A serving
path whose event stream lags 6 hours behind is caught, and the lag recovered; an in-sync one
passes; `featuredsl replay` reports window features like any other."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from featuredsl.artifact.load import load
from featuredsl.monitor.window_consistency import check_window_consistency
from featuredsl.parity.build import build
from featuredsl.runtime.serving import Session

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "windows"
MINUTE = 60_000_000


def _make_data():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("windows_make_data", EXAMPLE / "make_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("window-consistency")
    build(EXAMPLE / "windows.fdsl", EXAMPLE / "train.csv", root / "build",
          events={"purchases": EXAMPLE / "purchases.csv"})  # fmt: skip
    _make_data().generate(root)  # root/requests.json: in sync with purchases.csv
    return root


def serve(root: Path, requests: list[dict], log: Path) -> None:
    log.unlink(missing_ok=True)
    with Session(root / "build", log=log, timestamp_unit="us") as session:
        for start in range(0, len(requests), 20):
            session.transform(requests[start : start + 20])


def lagging(requests: list[dict], lag: int, share: float, seed: int = 3) -> tuple[list[dict], int]:
    """The requests with, for `share` of them, the events of the last `lag` before the window
    end dropped (a stream `lag` behind); -> (requests, rows whose events changed)."""
    rng = np.random.default_rng(seed)
    out, changed = [], 0
    for request in requests:
        end = request["auth_ts"] - 5 * MINUTE
        kept = request["purchases"]
        if rng.random() < share:
            kept = [e for e in kept if e["purchase_ts"] < end - lag]
            changed += len(kept) != len(request["purchases"])
        out.append({**request, "purchases": kept})
    return out, changed


def test_in_sync_serving_matches_the_offline_log(served: Path) -> None:
    requests = json.loads((served / "requests.json").read_text())
    serve(served, requests, served / "in_sync.db")
    report = check_window_consistency(
        load(served / "build").manifest,
        served / "in_sync.db",
        {"purchases": EXAMPLE / "purchases.csv"},
    )
    assert report.rows == len(requests) and report.mismatched_rows == 0
    assert all(w.match == w.rows for w in report.windows)
    result = subprocess.run(
        [sys.executable, "-m", "featuredsl.cli.main", "replay", str(served / "build"),
         "--log", str(served / "in_sync.db")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "mean_amount_30d" in result.stdout and "OK" in result.stdout


def test_a_lagging_stream_is_caught_and_its_lag_recovered(served: Path) -> None:
    requests = json.loads((served / "requests.json").read_text())
    late, changed = lagging(requests, 6 * 60 * MINUTE, 0.5)
    assert changed > 5
    serve(served, late, served / "lagging.db")
    report = check_window_consistency(
        load(served / "build").manifest,
        served / "lagging.db",
        {"purchases": EXAMPLE / "purchases.csv"},
    )
    assert report.mismatched_rows == changed  # exactly the rows that lost events
    assert report.lag is not None
    assert report.lag.low <= 6 * 60 * MINUTE <= report.lag.high
    assert report.lag.explained == changed
    result = subprocess.run(
        [sys.executable, "-m", "featuredsl.cli.main", "consistency", "--build",
         str(served / "build"), "--log", str(served / "lagging.db"),
         "--events", f"purchases={EXAMPLE / 'purchases.csv'}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "stream lag" in result.stdout


def test_http_serving_takes_rows_with_their_events(served: Path) -> None:
    """`featuredsl serve` on a build with windows: a row's events ride in the lossless JSON
    encoding; the answer equals the Session's, and a bad event is a 400 naming row and event."""
    import httpx
    from test_server import server

    requests = json.loads((served / "requests.json").read_text())[:5]
    with Session(served / "build", timestamp_unit="us") as session:
        expected = session.transform(requests)
    rows = [
        {
            **{k: (str(v) if k == "auth_ts" else v) for k, v in r.items() if k != "purchases"},
            "purchases": [{**e, "purchase_ts": str(e["purchase_ts"])} for e in r["purchases"]],
        }
        for r in requests
    ]
    with server(str(served / "build")) as (url, _):
        answer = httpx.post(url + "/predict", json={"rows": rows}, timeout=30)
        assert answer.status_code == 200, answer.text
        features = answer.json()["outputs"]["features"]
        got = np.array(features["data"], dtype=np.float64).reshape(features["shape"])
        np.testing.assert_array_equal(got, expected)
        bad = [{**rows[0], "purchases": [{**rows[0]["purchases"][0], "amount": "lots"}]}]
        refused = httpx.post(url + "/predict", json={"rows": bad}, timeout=30)
        assert refused.status_code == 400
        assert "row 0, event 0" in refused.json()["message"]


def test_the_sessions_fast_event_path_gives_the_general_paths_feed(served: Path) -> None:
    """Plain event dicts take precompiled per-column checks; the feed is the general path's,
    array for array, and an event it cannot take goes to the general path (which names it)."""
    from featuredsl.ingest.events import events_feed
    from featuredsl.runtime.serving import fast_events_feed, row_converters

    requests = json.loads((served / "requests.json").read_text())[:40]
    source = load(served / "build").event_sources[0]
    per_row = [r["purchases"] for r in requests]
    converters = row_converters(source.columns, "us")
    names = frozenset(c.name for c in source.columns)
    fast = fast_events_feed(source, per_row, converters, names)
    general = events_feed(source, per_row, "us")
    assert fast is not None and fast.keys() == general.keys()
    for name in fast:
        assert fast[name].dtype == general[name].dtype
        np.testing.assert_array_equal(fast[name], general[name])
    odd = [[{**per_row[0][0], "amount": "12"}], *per_row[1:]]  # not a float: the general path
    assert fast_events_feed(source, odd, converters, names) is None
    late = [list(reversed(per_row[0])), *per_row[1:]] if len(per_row[0]) > 1 else per_row
    if late is not per_row:
        assert fast_events_feed(source, late, converters, names) is None


def test_requests_as_dicts_of_columns_or_one_row(served: Path) -> None:
    """A dict of columns needs one event list per row; a one-row dict carries its events as a
    list of event dicts; both give the row-list form's features."""
    from featuredsl.errors import DataError

    requests = json.loads((served / "requests.json").read_text())[:2]
    with Session(served / "build", timestamp_unit="us") as session:
        expected = session.transform(requests)
        columns = {k: [r[k] for r in requests] for k in requests[0]}
        np.testing.assert_array_equal(session.transform(columns), expected)
        np.testing.assert_array_equal(session.transform(requests[0]), expected[:1])
        short = {**columns, "purchases": columns["purchases"][:1]}
        with pytest.raises(DataError, match="1 event list"):
            session.transform(short)


def test_events_may_carry_their_rows_key_and_no_other(served: Path) -> None:
    """Rows of the offline event table carry the key: accepted when it is the row's own, refused
    (row and event named) when the event belongs to another entity."""
    from featuredsl.errors import DataError

    request = json.loads((served / "requests.json").read_text())[0]
    with Session(served / "build", timestamp_unit="us") as session:
        expected = session.transform([request])
        own = {
            **request,
            "purchases": [{**e, "card": request["card"]} for e in request["purchases"]],
        }
        np.testing.assert_array_equal(session.transform([own]), expected)
        if request["purchases"]:
            other = {**own, "purchases": [{**own["purchases"][0], "card": "someone else"}]}
            with pytest.raises(DataError, match="row 0, event 0: belongs to card 'someone else'"):
                session.transform([other])


def test_consistency_writes_the_window_report_as_json(served: Path, tmp_path: Path) -> None:
    requests = json.loads((served / "requests.json").read_text())[:20]
    serve(served, requests, tmp_path / "log.db")
    result = subprocess.run(
        [sys.executable, "-m", "featuredsl.cli.main", "consistency", "--build",
         str(served / "build"), "--log", str(tmp_path / "log.db"),
         "--events", f"purchases={EXAMPLE / 'purchases.csv'}", "--json", str(tmp_path / "w.json")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "w.json").read_text())["windows"]
    assert report["rows"] == 20 and report["mismatched_rows"] == 0
