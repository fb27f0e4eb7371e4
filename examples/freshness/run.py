"""Both freshness incidents of docs/freshness.md, end to end, on generated data.

    python examples/freshness/run.py [--out build/freshness]

1. data         examples/freshness/make_data.py: offline scores, a training table with
                24-hour-old scores, requests of which 30% come from a store lagging 6 hours
2. build        fit freshness.fdsl on the training table (featuredsl build)
3. serve        every request through a Session with a serving log (and the in-sync control
                requests into a second log)
4. skew         `featuredsl skew --build`: the freshness section compares training ages with
                served ages (incident 1)
5. consistency  `featuredsl consistency`: served values against the offline table at each
                prediction time, and the sync lag (incident 2); then the in-sync control
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from featuredsl.parity.build import build
from featuredsl.runtime.serving import Session

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import make_data  # noqa: E402


def serve(build_dir: Path, requests: Path, log: Path, batch: int = 20) -> None:
    """Every request row through the validated Session, `batch` rows per call, logged."""
    log.unlink(missing_ok=True)
    rows = pq.read_table(requests).drop_columns(["lagged"]).to_pylist()
    with Session(build_dir, log=log, timestamp_unit="us") as session:  # int64 epoch micros
        for start in range(0, len(rows), batch):
            session.transform(rows[start : start + batch])


def featuredsl(*argv: object) -> int:
    """Run the featuredsl command as a user would; returns its exit status."""
    command = [sys.executable, "-m", "featuredsl.cli.main", *map(str, argv)]
    print("$ featuredsl " + " ".join(map(str, argv)), flush=True)
    return subprocess.run(command, check=False).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("build/freshness"))
    out = parser.parse_args().out
    make_data.generate(out, csv=out / "train.csv")  # the same rows as examples/freshness/train.csv
    build(HERE / "freshness.fdsl", out / "train.csv", out / "build")
    serve(out / "build", out / "requests.parquet", out / "serving.db")
    serve(out / "build", out / "requests_in_sync.parquet", out / "serving_in_sync.db")
    skew = featuredsl(
        "skew", "--build", out / "build", "--reference", out / "train.csv",
        "--current", out / "serving.db", "--html", out / "skew.html", "--fail-on", "never",
    )  # fmt: skip
    lagging = featuredsl(
        "consistency", "--log", out / "serving.db", "--offline", out / "offline.parquet",
        "--on", "user", "--time", "event_ts", "--offline-time", "score_ts", "--timestamp-unit", "us",
        "--fail-above", "0.01", "--html", out / "consistency.html",
        "--json", out / "consistency.json",
    )  # fmt: skip
    in_sync = featuredsl(
        "consistency", "--log", out / "serving_in_sync.db", "--offline", out / "offline.parquet",
        "--on", "user", "--time", "event_ts", "--offline-time", "score_ts", "--timestamp-unit", "us",
        "--fail-above", "0.01",
    )  # fmt: skip
    print(f"exit statuses: skew {skew}, consistency (lagging) {lagging}, (in sync) {in_sync}")
    return 0 if (lagging, in_sync) == (1, 0) else 1


if __name__ == "__main__":
    sys.exit(main())
