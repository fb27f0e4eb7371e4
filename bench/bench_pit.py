"""Throughput of featuredsl.joins.pit.join against pandas.merge_asof on the same seeded data.

    python bench/bench_pit.py --labels 10000000 --features 1000000

Data is generated at run time (no files): integer entity keys, label and feature times spread
over one year as tz-aware UTC timestamps, one float and one int feature column. pandas.merge_asof
needs both inputs sorted by time and returns rows in time order, so it is timed twice: on inputs
sorted beforehand (its best case, sort not timed) and with the sorts and the restore of label
order that pit.join does for you. Output is a markdown table on stdout (and in --out FILE);
the script fails when pit.join and merge_asof disagree.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from featuredsl.joins import pit

YEAR_US = 365 * 86_400 * 1_000_000
START_US = 1_672_531_200_000_000  # 2023-01-01T00:00:00Z


def make_data(
    n_labels: int, n_features: int, n_entities: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def times(n: int) -> pd.Series:
        micros = START_US + rng.integers(0, YEAR_US, n)
        return pd.Series(micros.astype("datetime64[us]")).dt.tz_localize("UTC")

    labels = pd.DataFrame(
        {
            "user": rng.integers(0, n_entities, n_labels),
            "t": times(n_labels),
            "label": rng.integers(0, 2, n_labels),
        }
    )
    features = pd.DataFrame(
        {
            "user": rng.integers(0, n_entities, n_features),
            "ft": times(n_features),
            "spend": rng.normal(50.0, 10.0, n_features),
            "visits": rng.integers(0, 100, n_features),
        }
    )
    return labels, features


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall-clock and CPU seconds: CPU time is the steadier number on a shared machine."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def merge_asof(
    labels: pd.DataFrame, features: pd.DataFrame, ttl: pd.Timedelta | None
) -> pd.DataFrame:
    return pd.merge_asof(labels, features, left_on="t", right_on="ft", by="user", tolerance=ttl)


def merge_asof_full(
    labels: pd.DataFrame, features: pd.DataFrame, ttl: pd.Timedelta | None
) -> pd.DataFrame:
    """What a caller must do to get pit.join's output from merge_asof: sort, merge, restore order."""
    order = labels["t"].argsort(kind="stable").to_numpy()
    left = labels.iloc[order].reset_index(drop=True)
    right = features.sort_values("ft", kind="stable", ignore_index=True)
    merged = merge_asof(left, right, ttl)
    restored = merged.set_axis(order).sort_index()
    return restored


def same_values(a: pd.Series, b: pd.Series) -> bool:
    return bool(np.array_equal(a.to_numpy(dtype=float), b.to_numpy(dtype=float), equal_nan=True))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--labels", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=100_000)
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--ttl", default="7d")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="Also write the markdown report to this file.")
    args = parser.parse_args()

    labels, features = make_data(args.labels, args.features, args.entities, args.seed)
    ttl_pd = pd.Timedelta(pit.parse_ttl(args.ttl), unit="us")
    labels_pa = pa.Table.from_pandas(labels, preserve_index=False)
    features_pa = pa.Table.from_pandas(features, preserve_index=False)

    rows: list[tuple[str, float, float]] = []

    def run(name: str, fn: Callable[[], Any]) -> Any:
        wall, cpu, result = timed(fn)
        rows.append((name, wall, cpu))
        return result

    kw = {"on": "user", "label_time": "t", "feature_time": "ft"}
    # Warm-up on a slice, so one-time costs (lazy imports, kernel registration) are not timed.
    pit.join(labels.head(1000), features.head(1000), **kw)
    merge_asof_full(labels.head(1000), features.head(1000), None)
    ours = run("pit.join, pandas in/out", lambda: pit.join(labels, features, **kw))
    run("pit.join, pyarrow in/out", lambda: pit.join(labels_pa, features_pa, **kw))
    ours_ttl = run(
        f"pit.join, pandas, ttl={args.ttl}", lambda: pit.join(labels, features, ttl=args.ttl, **kw)
    )

    theirs = run(
        "merge_asof + sorts + restore order", lambda: merge_asof_full(labels, features, None)
    )
    theirs_ttl = run(
        f"merge_asof + sorts + restore order, tolerance={args.ttl}",
        lambda: merge_asof_full(labels, features, ttl_pd),
    )
    left = labels.sort_values("t", kind="stable", ignore_index=True)
    right = features.sort_values("ft", kind="stable", ignore_index=True)
    run("merge_asof on pre-sorted inputs (sort not timed)", lambda: merge_asof(left, right, None))

    agree = same_values(ours["spend"], theirs["spend"]) and same_values(
        ours_ttl["spend"], theirs_ttl["spend"]
    )
    matched = float(ours["spend"].notna().mean())
    matched_ttl = float(ours_ttl["spend"].notna().mean())
    text = report(args, rows, agree, matched, matched_ttl)
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text)
    if not agree:
        raise SystemExit("pit.join and merge_asof disagree")


def report(
    args: argparse.Namespace,
    rows: list[tuple[str, float, float]],
    agree: bool,
    matched: float,
    matched_ttl: float,
) -> str:
    base = rows[0][1]
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        f"## pit.join: {args.labels:,} label rows x {args.features:,} feature rows",
        "",
        f"{args.entities:,} entities, seed {args.seed}; pandas {pd.__version__}, "
        f"pyarrow {pa.__version__}, numpy {np.__version__}, Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs, load average after the run {load}",
        "",
        "| method | wall s | CPU s | label rows/s (wall) | wall vs pit.join (pandas) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, wall, cpu in rows:
        lines.append(
            f"| {name} | {wall:.2f} | {cpu:.2f} | {args.labels / wall:,.0f} | {wall / base:.2f}x |"
        )
    lines += [
        "",
        f"Matched rows: {matched:.1%} without TTL, {matched_ttl:.1%} with ttl={args.ttl}. "
        f"Results identical to merge_asof: {'yes' if agree else 'NO'}. "
        f"Peak RSS {peak_gib:.1f} GiB.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
