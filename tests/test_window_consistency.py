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
