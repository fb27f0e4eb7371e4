"""Generate the freshness example's data from a seed: an offline table of engagement scores,
a training table built with 24-hour-old scores, and serving requests, part of them from an online
store lagging 6 hours behind the offline table.

    python examples/freshness/make_data.py              # writes examples/freshness/train.csv
    python examples/freshness/make_data.py --out DIR    # also DIR/offline.parquet, DIR/requests.parquet

Timestamps are int64 microseconds UTC in Parquet and ISO-8601 instants in the CSV.

- offline.parquet: user, score_ts (when the row was computed), score, clicks_1h (null in 5% of
  rows). Every user's row is recomputed every 5 to 15 minutes (the score a random walk, the
  clicks Poisson), from 3 days before T0 to 1 day after.
- train.csv: 2,000 training rows in the day before T0. Incident 1: the training pipeline joined
  each row with the score as of 24 hours before its event time (yesterday's snapshot), so its
  scores are about 24 h old.
- requests.parquet: 2,000 requests in the 12 hours after T0, each with the score the online
  store returned. Incident 2: for LAGGED_SHARE of the requests the store lagged LAG behind the
  offline table (it returned the score as of event time - LAG); the others got the live score.
  Column `lagged` says which (for checking the tools; a real log does not know).
- requests_in_sync.parquet: 2,000 other requests, all served the live score (the control).
- labels.parquet: the training rows' event_ts and user, to rebuild the training table correctly
  with `featuredsl pit-join ... --with-age`.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from featuredsl.joins import pit

SEED = 16
USERS = 50
MINUTE = 60_000_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
T0 = 1_790_000_000_000_000  # 2026-09-21T14:13:20Z
LAG = 6 * HOUR
LAGGED_SHARE = 0.3
TRAIN_ROWS = 2_000
REQUEST_ROWS = 2_000
HERE = Path(__file__).parent


def offline_table(rng: np.random.Generator) -> pa.Table:
    users, times, scores, clicks = [], [], [], []
    for u in range(USERS):
        t = T0 - 3 * DAY + int(rng.integers(0, 15 * MINUTE))
        score = float(rng.uniform(0.2, 0.8))
        while t < T0 + DAY:
            users.append(f"u{u:02d}")
            times.append(t)
            scores.append(round(score, 4))
            clicks.append(int(rng.poisson(3)) if rng.random() > 0.05 else None)
            score = min(1.0, max(0.0, score + float(rng.normal(0, 0.03))))
            t += int(rng.integers(5 * MINUTE, 15 * MINUTE))
    return pa.table(
        {
            "user": users,
            "score_ts": pa.array(times, pa.int64()),
            "score": scores,
            "clicks_1h": pa.array(clicks, pa.int64()),
        }
    )


def lookup(offline: pa.Table, users: list[str], at: np.ndarray) -> pa.Table:
    """The offline score of each user as of `at` (point-in-time correct)."""
    labels = pa.table({"user": users, "at": pa.array(at, pa.int64())})
    return pit.join(
        labels, offline, on="user", label_time="at", feature_time="score_ts", timestamp_unit="us"
    )


def training_rows(offline: pa.Table, rng: np.random.Generator) -> pa.Table:
    event = np.sort(T0 - rng.integers(0, DAY, TRAIN_ROWS))
    users = [f"u{u:02d}" for u in rng.integers(0, USERS, TRAIN_ROWS)]
    stale = lookup(offline, users, event - DAY)  # the bug: yesterday's snapshot
    return pa.table(
        {
            "event_ts": pa.array(event, pa.int64()),
            "user": users,
            "score": stale.column("score"),
            "clicks_1h": stale.column("clicks_1h"),
            "score_ts": stale.column("score_ts"),
        }
    )


def requests(
    offline: pa.Table, rng: np.random.Generator, lagged_share: float = LAGGED_SHARE
) -> pa.Table:
    event = np.sort(T0 + rng.integers(0, 12 * HOUR, REQUEST_ROWS))
    users = [f"u{u:02d}" for u in rng.integers(0, USERS, REQUEST_ROWS)]
    lagged = rng.random(REQUEST_ROWS) < lagged_share
    served = lookup(offline, users, np.where(lagged, event - LAG, event))
    return pa.table(
        {
            "event_ts": pa.array(event, pa.int64()),
            "user": users,
            "score": served.column("score"),
            "clicks_1h": served.column("clicks_1h"),
            "score_ts": served.column("score_ts"),
            "lagged": lagged,
        }
    )


def iso(micros: int) -> str:
    return (
        dt.datetime.fromtimestamp(micros / 1e6, dt.timezone.utc).isoformat().replace("+00:00", "Z")
    )


def write_csv(table: pa.Table, path: Path) -> None:
    lines = ["event_ts,user,score,clicks_1h,score_ts"]
    for row in table.to_pylist():
        clicks = "" if row["clicks_1h"] is None else str(row["clicks_1h"])
        lines.append(
            f"{iso(row['event_ts'])},{row['user']},{row['score']!r},{clicks},{iso(row['score_ts'])}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def generate(
    out: Path | None = None, seed: int = SEED, csv: Path = HERE / "train.csv"
) -> dict[str, pa.Table]:
    """Build the tables; write the training table to `csv` (by default train.csv next to this
    script) and, with `out`, every table as Parquet in `out`."""
    rng = np.random.default_rng(seed)
    offline = offline_table(rng)
    tables = {
        "offline": offline,
        "train": training_rows(offline, rng),
        "requests": requests(offline, rng),
        "requests_in_sync": requests(offline, np.random.default_rng(seed + 1), lagged_share=0.0),
    }
    tables["labels"] = tables["train"].select(["event_ts", "user"])
    csv.parent.mkdir(parents=True, exist_ok=True)
    write_csv(tables["train"], csv)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for name, table in tables.items():
            pq.write_table(table, out / f"{name}.parquet")
    return tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="also write the Parquet tables here")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    generate(args.out, args.seed)


if __name__ == "__main__":
    main()
